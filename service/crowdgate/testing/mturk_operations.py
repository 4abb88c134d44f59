"""The operations the emulator answers, by MTurk's name, and whether each changes state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crowdgate.testing import (
    mturk_assignment_operations as assignments,
)
from crowdgate.testing import (
    mturk_hit_operations as hits,
)
from crowdgate.testing import (
    mturk_qualification_operations as qualifications,
)
from crowdgate.testing import (
    mturk_worker_operations as workers,
)
from crowdgate.testing.mturk_account import Account
from crowdgate.testing.mturk_requests import Params

Handler = Callable[[Account, Params], dict[str, Any]]

#: Operation name -> (handler, changes state).
OPERATIONS: dict[str, tuple[Handler, bool]] = {
    "GetAccountBalance": (workers.get_account_balance, False),
    "CreateHIT": (hits.create_hit, True),
    "CreateHITType": (hits.create_hit_type, True),
    "CreateHITWithHITType": (hits.create_hit_with_hit_type, True),
    "GetHIT": (hits.get_hit, False),
    "ListHITs": (hits.list_hits, False),
    "UpdateExpirationForHIT": (hits.update_expiration_for_hit, True),
    "CreateAdditionalAssignmentsForHIT": (hits.create_additional_assignments, True),
    "DeleteHIT": (hits.delete_hit, True),
    "ListAssignmentsForHIT": (assignments.list_assignments_for_hit, False),
    "GetAssignment": (assignments.get_assignment, False),
    "ApproveAssignment": (assignments.approve_assignment, True),
    "RejectAssignment": (assignments.reject_assignment, True),
    "SendBonus": (workers.send_bonus, True),
    "ListBonusPayments": (workers.list_bonus_payments, False),
    "NotifyWorkers": (workers.notify_workers, True),
    "CreateQualificationType": (qualifications.create_qualification_type, True),
    "GetQualificationType": (qualifications.get_qualification_type, False),
    "ListQualificationTypes": (qualifications.list_qualification_types, False),
    "AssociateQualificationWithWorker": (qualifications.associate_qualification, True),
    "DisassociateQualificationFromWorker": (qualifications.disassociate_qualification, True),
    "ListWorkersWithQualificationType": (qualifications.list_workers_with_qualification, False),
}
