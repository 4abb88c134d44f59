"""MTurk's XML documents: the QuestionFormAnswers a worker submits and the Question of a HIT."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from xml.sax.saxutils import escape

ANSWERS_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/"
    "QuestionFormAnswers.xsd"
)
EXTERNAL_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/"
    "ExternalQuestion.xsd"
)
HTML_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"
)
QUESTION_FORM_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionForm.xsd"
)


def answers_xml(answers: Mapping[str, str]) -> str:
    """The document MTurk stores as an assignment's ``Answer``, one FreeText per field."""
    parts = [
        f"<Answer><QuestionIdentifier>{escape(name)}</QuestionIdentifier>"
        f"<FreeText>{escape(value)}</FreeText></Answer>"
        for name, value in answers.items()
    ]
    body = (
        f'<?xml version="1.0" encoding="ASCII"?>'
        f'<QuestionFormAnswers xmlns="{ANSWERS_NS}">{"".join(parts)}</QuestionFormAnswers>'
    )
    # MTurk's documents are ASCII, with everything else as character references.
    return body.encode("ascii", "xmlcharrefreplace").decode("ascii")


def parse_answers(document: str) -> dict[str, str]:
    """The fields of a QuestionFormAnswers document (for tests and seeding checks)."""
    root = ET.fromstring(document.encode("ascii", "xmlcharrefreplace"))
    found: dict[str, str] = {}
    for answer in root.findall(f"{{{ANSWERS_NS}}}Answer"):
        name = answer.findtext(f"{{{ANSWERS_NS}}}QuestionIdentifier") or ""
        found[name] = answer.findtext(f"{{{ANSWERS_NS}}}FreeText") or ""
    return found


def external_question(url: str, frame_height: int = 0) -> str:
    """An ExternalQuestion document for ``url``."""
    return (
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}">'
        f"<ExternalURL>{escape(url)}</ExternalURL><FrameHeight>{frame_height}</FrameHeight>"
        "</ExternalQuestion>"
    )


def question_problem(document: str) -> str | None:
    """Why MTurk would refuse ``document`` as a HIT's Question, or None if it is acceptable."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        return f"The Question is not well-formed XML: {exc}"
    if root.tag == f"{{{EXTERNAL_QUESTION_NS}}}ExternalQuestion":
        url = (root.findtext(f"{{{EXTERNAL_QUESTION_NS}}}ExternalURL") or "").strip()
        height = (root.findtext(f"{{{EXTERNAL_QUESTION_NS}}}FrameHeight") or "").strip()
        if not url.startswith("https://"):
            return "ExternalURL must be an https:// URL"
        if not height.isdigit():
            return "FrameHeight must be a whole number of pixels"
        return None
    if root.tag == f"{{{HTML_QUESTION_NS}}}HTMLQuestion":
        if not root.findtext(f"{{{HTML_QUESTION_NS}}}HTMLContent"):
            return "HTMLQuestion needs HTMLContent"
        return None
    if root.tag == f"{{{QUESTION_FORM_NS}}}QuestionForm":
        return None
    return f"The Question's root element {root.tag} is not a question document MTurk accepts"
