"""Language identification of short social posts (lingua, offline)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

_NOISE = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|\d+")
_LETTER = re.compile(r"[^\W\d_]")
# Fewer letters than this say too little to name a language honestly.
MIN_LETTERS = 3


# The languages most written on social media. Fewer candidates make short posts far less
# ambiguous (with all 75 lingua languages, "hey @brand" came out as Azerbaijani) and faster.
LANGUAGES = [
    "ar",
    "bn",
    "cs",
    "da",
    "de",
    "el",
    "en",
    "es",
    "fa",
    "fi",
    "fr",
    "he",
    "hi",
    "hu",
    "id",
    "it",
    "ja",
    "ko",
    "ms",
    "nb",
    "nl",
    "pl",
    "pt",
    "ro",
    "ru",
    "sv",
    "th",
    "tl",
    "tr",
    "uk",
    "ur",
    "vi",
    "zh",
]
# Trigram-only (low accuracy) detection is as good as the full models past about 120
# characters and several times faster; shorter posts get the full models.
LONG_TEXT = 120


@lru_cache(maxsize=2)
def _detector(low_accuracy: bool) -> Any:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in LANGUAGES]
    builder = LanguageDetectorBuilder.from_languages(*languages).with_preloaded_language_models()
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    return builder.build()


def detect_languages(texts: Sequence[str]) -> list[str | None]:
    """ISO 639-1 code per text, None where the text has too few letters or is ambiguous."""
    cleaned = [" ".join(_NOISE.sub(" ", t).split()) for t in texts]
    out: list[str | None] = [None] * len(texts)
    for low_accuracy in (False, True):
        todo = [
            i
            for i, t in enumerate(cleaned)
            if len(_LETTER.findall(t)) >= MIN_LETTERS and (len(t) >= LONG_TEXT) == low_accuracy
        ]
        if not todo:
            continue
        found = _detector(low_accuracy).detect_languages_in_parallel_of([cleaned[i] for i in todo])
        for i, lang in zip(todo, found, strict=True):
            if lang is not None:
                out[i] = lang.iso_code_639_1.name.lower()
    return out
