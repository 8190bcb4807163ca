"""The Understander: offline loading, sensible predictions, corrections and custom intents."""

from __future__ import annotations

import pytest

from townhall.core.taxonomy import INTENTS, RISK_FLAGS, SENTIMENTS, URGENCIES
from townhall.understanding import (
    Correction,
    KbEntry,
    KnowledgeBase,
    Understander,
    Understanding,
    get_understander,
)
from townhall.understanding import kb as kb_module
from townhall.understanding import understander as understander_module
from townhall.understanding.language import _detector

pytestmark = pytest.mark.xdist_group("understanding")


@pytest.mark.usefixtures("no_network")
def test_models_load_and_run_without_network() -> None:
    understander_module._models.cache_clear()
    understander_module.get_understander.cache_clear()
    _detector.cache_clear()
    kb_module._embedding_cache.cache_clear()
    result = get_understander().understand(["Thanks for the quick help today!"])
    assert len(result) == 1
    assert isinstance(result[0], Understanding)
    kb = KnowledgeBase([KbEntry("a", "reset my password"), KbEntry("b", "opening hours")])
    assert len(kb.match(["forgot my password"])) == 1


def test_fields_are_always_in_the_taxonomy() -> None:
    texts = ["", "   ", "ok", "🙂🙂", "a" * 5000, "@airline #help http://x.co/1 123"]
    for u in get_understander().understand(texts):
        assert u.sentiment in SENTIMENTS
        assert -1.0 <= u.sentiment_score <= 1.0
        assert u.intent in INTENTS
        assert 0.0 <= u.intent_confidence <= 1.0
        assert set(u.risk_flags) <= set(RISK_FLAGS)
        assert u.urgency in URGENCIES
    assert get_understander().understand([]) == []


@pytest.mark.parametrize(
    ("text", "sentiment", "intent"),
    [
        (
            "Absolutely loved the crew on my flight today, thank you so much!",
            "positive",
            "feedback_praise",
        ),
        (
            "Lost my luggage AGAIN and nobody answers the phone. Terrible service.",
            "negative",
            "complaint",
        ),
        ("How can I change the email address on my account?", "neutral", "support_request"),
    ],
)
def test_clear_examples(text: str, sentiment: str, intent: str) -> None:
    (u,) = get_understander().understand([text])
    assert u.sentiment == sentiment
    assert u.intent == intent


def test_sentiment_score_follows_polarity() -> None:
    good, bad = get_understander().understand(
        ["What a wonderful, friendly team, great job!", "Awful, rude staff. Worst trip of my life."]
    )
    assert good.sentiment_score > 0.3
    assert bad.sentiment_score < -0.3


def test_risk_kinds_flags_and_urgency() -> None:
    threat, phishing, protest, offensive = get_understander().understand(
        [
            "I'm going to kill the manager at your Elm Street branch tomorrow",
            "An account called AcmeSupportDesk DMed me asking for my card PIN, is this really you?",
            "Boycott this company! Everyone meet outside their flagship store on Saturday at noon",
            "you are all fucking idiots, shut the fuck up",
        ]
    )
    assert threat.intent == "threat"
    assert "threat" in threat.risk_flags
    assert threat.urgency == "critical"
    assert phishing.intent == "impersonation_phishing"
    assert phishing.urgency == "high"
    assert protest.intent == "protest"
    assert "protest" in protest.risk_flags
    assert "offensive" in offensive.risk_flags


def test_press_and_sales_phrasing_win_by_the_guides_priority() -> None:
    press, lead, customer = get_understander().understand(
        [
            "@acme Evening Post producer here: could your CEO do an interview on the layoffs?",
            "@acme can you send us a quote for a group booking of 30 people in June?",
            "@acme I'm going to talk to a reporter about how you treated me, disgraceful",
        ]
    )
    assert press.intent == "press_inquiry"
    assert press.urgency == "high"
    assert lead.intent == "sales_lead"
    # A customer threatening to go to the press is complaining, not asking as the press.
    assert customer.intent == "complaint"


def test_language() -> None:
    en, es, fr, unknown = get_understander().understand(
        [
            "My flight to Boston was delayed by three hours and nobody told us why.",
            "Mi vuelo a Madrid lleva tres horas de retraso y nadie nos dice nada.",
            "Mon vol pour Paris a trois heures de retard et personne ne nous informe.",
            "@airline 👍",
        ]
    )
    assert (en.language, es.language, fr.language, unknown.language) == ("en", "es", "fr", None)


def test_learn_changes_next_prediction_for_similar_text() -> None:
    understander = Understander()
    text = "can you guys bring back the old snack box on short flights"
    similar = "can you guys bring back the old snack box on short flights please"
    before = understander.understand([similar])[0].intent
    target = "strategic" if before != "strategic" else "sales_lead"
    understander.learn([Correction(text=text, field="intent", label=target)])
    assert understander.understand([similar])[0].intent == target
    # An unrelated message is not affected.
    assert understander.understand(["how do I reset my password?"])[0].intent != target
    # Corrections belong to this Understander only.
    assert Understander().understand([similar])[0].intent == before


def test_learn_sentiment_and_rejects_bad_labels() -> None:
    understander = Understander()
    text = "well that was an interesting landing"
    understander.learn([Correction(text=text, field="sentiment", label="negative")])
    (u,) = understander.understand([text])
    assert u.sentiment == "negative"
    assert u.sentiment_score < 0
    with pytest.raises(ValueError, match="not a intent label"):
        understander.learn([Correction(text=text, field="intent", label="nonsense")])
    with pytest.raises(ValueError, match="cannot learn field"):
        understander.learn([Correction(text=text, field="urgency", label="high")])


def test_organisation_taxonomy_with_new_intent() -> None:
    understander = Understander(
        intents=("complaint", "billing_question", "support_request", "other"),
        extra_examples={
            "billing_question": [
                "why is my invoice higher this month",
                "can I get a copy of my bill",
                "what is this charge on my statement",
                "when will I be billed for the annual plan",
                "how do I change my billing address on invoices",
            ]
        },
    )
    (u,) = understander.understand(["question about the charge on my latest invoice"])
    assert u.intent == "billing_question"
    for r in understander.understand(["love it", "my order never arrived, useless"]):
        assert r.intent in understander.intents
    with pytest.raises(ValueError, match="need example messages"):
        Understander(intents=("complaint", "brand_new_kind"))


def test_batch_equals_single() -> None:
    texts = ["thanks so much!", "where is my refund??", "do you fly to Lisbon in May?"]
    understander = get_understander()
    batch = understander.understand(texts)
    singles = [understander.understand([t])[0] for t in texts]
    assert batch == singles


def test_profanity_score_reads_insults_and_feeds_the_offensive_head_only() -> None:
    featuriser = understander_module._models().featuriser
    texts = ["you are a worthless moron", "my parcel arrived on tuesday"]
    insult, plain = featuriser.profanity.scores(texts)
    assert insult[0] > 0.5 > plain[0]
    x, _ = featuriser.transform(texts)
    models = understander_module._models()
    assert models.sentiment.coef.shape[1] == x.shape[1]
    assert models.offensive.coef.shape[1] == featuriser.with_profanity(x, texts).shape[1]
