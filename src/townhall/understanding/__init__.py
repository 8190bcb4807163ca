"""Understanding: language, sentiment, intent, risk flags, urgency and KB matching of inbound messages.

Everything runs offline on artefacts shipped in ``artefacts/`` (rebuilt by
``python -m townhall.understanding.training --data ../shared/data``).
"""

from townhall.understanding.kb import KbEntry, KbMatch, KnowledgeBase
from townhall.understanding.understander import (
    Correction,
    Understander,
    Understanding,
    get_understander,
)

__all__ = [
    "Correction",
    "KbEntry",
    "KbMatch",
    "KnowledgeBase",
    "Understander",
    "Understanding",
    "get_understander",
]
