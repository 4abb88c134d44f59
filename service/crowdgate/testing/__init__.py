"""Stand-ins for the platforms crowdgate talks to, on real sockets, for tests and rehearsals."""

from __future__ import annotations

from crowdgate.testing.mturk_emulator import MTurkEmulator
from crowdgate.testing.mturk_seeding import SeededHIT
from crowdgate.testing.mturk_xml import answers_xml, external_question, parse_answers
from crowdgate.testing.prolific_emulator import ProlificEmulator
from crowdgate.testing.prolific_seeding import SeededStudy

__all__ = [
    "MTurkEmulator",
    "ProlificEmulator",
    "SeededHIT",
    "SeededStudy",
    "answers_xml",
    "external_question",
    "parse_answers",
]
