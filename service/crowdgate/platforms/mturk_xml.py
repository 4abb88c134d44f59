"""The two XML documents MTurk speaks: a worker's answers and an ExternalQuestion."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

EXTERNAL_QUESTION_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"

log = logging.getLogger(__name__)


def _local(tag: str) -> str:
    # MTurk has shipped the QuestionFormAnswers schema under more than one namespace
    # URI over the years; the element names are what stayed the same.
    return tag.rpartition("}")[2]


def parse_answers(xml: str | None) -> dict[str, str]:
    """FreeText answers by QuestionIdentifier (``surveycode`` -> the code the worker typed).

    Malformed XML gives no answers and a warning rather than an exception: one
    worker's broken submission must not stop the rest of a sync.
    """
    if not xml:
        return {}
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        log.warning("An MTurk answer is not well-formed XML (%s); keeping no answers.", exc)
        return {}
    answers: dict[str, str] = {}
    for answer in root:
        if _local(answer.tag) != "Answer":
            continue
        identifier: str | None = None
        value: str | None = None
        for part in answer:
            name = _local(part.tag)
            if name == "QuestionIdentifier":
                identifier = (part.text or "").strip()
            elif name == "FreeText":
                value = part.text or ""
        if identifier and value is not None:
            answers[identifier] = value
    return answers


def external_question(url: str, frame_height: int) -> str:
    """The Question document that shows ``url`` in a frame; the URL is XML-escaped (its &s)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}">'
        f"<ExternalURL>{escape(url)}</ExternalURL>"
        f"<FrameHeight>{int(frame_height)}</FrameHeight>"
        "</ExternalQuestion>"
    )
