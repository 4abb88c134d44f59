"""Qualification operations: CreateQualificationType, GetQualificationType,
ListQualificationTypes, AssociateQualificationWithWorker,
DisassociateQualificationFromWorker, ListWorkersWithQualificationType."""

from __future__ import annotations

from typing import Any

from crowdgate.testing.mturk_account import Account
from crowdgate.testing.mturk_requests import MTurkError, Params, bad, page
from crowdgate.testing.mturk_state import Grant, Message, QualificationType

STATUSES = ("Active", "Inactive")


def qualification_shape(kind: QualificationType) -> dict[str, Any]:
    return {
        "QualificationTypeId": kind.qualification_type_id,
        "CreationTime": kind.created_at,
        "Name": kind.name,
        "Description": kind.description,
        "Keywords": kind.keywords,
        "QualificationTypeStatus": kind.status,
        "IsRequestable": True,
        "AutoGranted": kind.auto_granted,
        "AutoGrantedValue": kind.auto_granted_value,
    }


def find_type(account: Account, type_id: str) -> QualificationType:
    kind = account.state.qualification_types.get(type_id)
    if kind is None:
        raise MTurkError(
            f"QualificationType {type_id} does not exist.",
            "AWS.MechanicalTurk.QualificationTypeDoesNotExist",
        )
    return kind


def create_qualification_type(account: Account, params: Params) -> dict[str, Any]:
    name = params.text("Name", max_length=255)
    description = params.text("Description", max_length=2000)
    status = params.text("QualificationTypeStatus")
    if status not in STATUSES:
        raise bad(f"QualificationTypeStatus must be one of {', '.join(STATUSES)}")
    if not name.strip():
        raise bad("Name must not be blank")
    if any(k.name == name for k in account.state.qualification_types.values()):
        raise MTurkError(
            f"You have already created a QualificationType with this name: {name}",
            "AWS.MechanicalTurk.QualificationTypeAlreadyExists",
        )
    kind = QualificationType(
        qualification_type_id=account.new_id(),
        name=name,
        description=description,
        keywords=params.string("Keywords", max_length=1000) or "",
        status=status,
        created_at=account.now(),
        auto_granted=params.boolean("AutoGranted"),
        auto_granted_value=params.integer("AutoGrantedValue", default=1) or 0,
        seq=account.state.seq(),
    )
    account.state.qualification_types[kind.qualification_type_id] = kind
    return {"QualificationType": qualification_shape(kind)}


def get_qualification_type(account: Account, params: Params) -> dict[str, Any]:
    kind = find_type(account, params.entity_id("QualificationTypeId") or "")
    return {"QualificationType": qualification_shape(kind)}


def list_qualification_types(account: Account, params: Params) -> dict[str, Any]:
    if not params.has("MustBeRequestable"):
        raise bad("MustBeRequestable is required", "AWS.MissingParameters")
    params.boolean("MustBeRequestable")
    # MustBeOwnedByCaller=false would add MTurk's public types; the emulator has none to add.
    params.boolean("MustBeOwnedByCaller")
    query = (params.string("Query", max_length=255) or "").lower()
    rows = [
        k
        for k in account.state.qualification_types.values()
        if not query or query in f"{k.name}\n{k.description}\n{k.keywords}".lower()
    ]
    chosen, extra = page(params, rows, lambda k: k.seq)
    return {"QualificationTypes": [qualification_shape(k) for k in chosen], **extra}


def associate_qualification(account: Account, params: Params) -> dict[str, Any]:
    kind = find_type(account, params.entity_id("QualificationTypeId") or "")
    worker_id = params.worker_id()
    value = params.integer("IntegerValue", default=1)
    notify = params.boolean("SendNotification")
    if kind.status != "Active":
        raise MTurkError(
            f"QualificationType {kind.qualification_type_id} is not active.",
            "AWS.MechanicalTurk.QualificationTypeNotActive",
        )
    key = (kind.qualification_type_id, worker_id)
    grant = account.state.grants.get(key)
    if grant is None:
        grant = Grant(kind.qualification_type_id, worker_id, value or 0, account.now(), seq=0)
        account.state.grants[key] = grant
    grant.status = "Granted"
    grant.value = value or 0
    grant.notified = notify
    grant.granted_at = account.now()
    grant.seq = account.state.seq()
    if notify:
        account.state.messages.append(
            Message(worker_id, "qualification_granted", kind.name, kind.description, account.now())
        )
    return {}


def disassociate_qualification(account: Account, params: Params) -> dict[str, Any]:
    kind = find_type(account, params.entity_id("QualificationTypeId") or "")
    worker_id = params.worker_id()
    reason = params.string("Reason", max_length=1024) or ""
    grant = account.state.grants.get((kind.qualification_type_id, worker_id))
    if grant is None or grant.status != "Granted":
        raise MTurkError(
            f"You requested a Qualification that does not exist: worker {worker_id} does not "
            f"have QualificationType {kind.qualification_type_id}.",
            "AWS.MechanicalTurk.QualificationDoesNotExist",
        )
    grant.status = "Revoked"
    # MTurk always e-mails a worker whose qualification is revoked: there is no flag to stop it.
    account.state.messages.append(
        Message(worker_id, "qualification_revoked", kind.name, reason, account.now())
    )
    return {}


def list_workers_with_qualification(account: Account, params: Params) -> dict[str, Any]:
    kind = find_type(account, params.entity_id("QualificationTypeId") or "")
    status = params.string("Status") or "Granted"
    if status not in ("Granted", "Revoked"):
        raise bad("Status must be Granted or Revoked")
    rows = [
        g
        for g in account.state.grants.values()
        if g.qualification_type_id == kind.qualification_type_id and g.status == status
    ]
    chosen, extra = page(params, rows, lambda g: g.seq)
    qualifications = [
        {
            "QualificationTypeId": g.qualification_type_id,
            "WorkerId": g.worker_id,
            "GrantTime": g.granted_at,
            "IntegerValue": g.value,
            "Status": g.status,
        }
        for g in chosen
    ]
    return {"Qualifications": qualifications, **extra}
