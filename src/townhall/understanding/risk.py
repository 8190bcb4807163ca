"""Pattern signals for risk flags and urgency that must not depend on a statistical model alone."""

from __future__ import annotations

import re

# Each pattern names an unambiguous phrasing; the models cover the paraphrases. Patterns
# are precise on purpose: a false threat alert costs Risk staff more than a missed synonym.
_FLAGS: dict[str, re.Pattern[str]] = {
    "threat": re.compile(
        r"\b(bomb (threat|in|on|at)|(blow|burn|shoot) (up|down) (your|the|this)"
        r"|i('ll| will| am going to|'m going to|m gonna| gonna) (kill|hurt|shoot|stab|beat up|attack|torch)"
        r"|(kill|shoot|stab|hurt) (your|the) (ceo|staff|employees?|manager|driver|pilot|cashier)"
        r"|deserves? a bullet|watch (your|their) backs?|you have been warned"
        r"|(bring|bringing) (a )?(gun|weapon|knife)|someone (is|'s) (going to|gonna) get (hurt|shot|stabbed))\b",
        re.I,
    ),
    "impersonation_phishing": re.compile(
        r"\b(phishing|scam (link|email|e-mail|text|sms|message|call|account|page|site|website|dm)s?"
        r"|fake (account|page|profile|website|site|number|support|app|giveaway)s?"
        r"|impersonat\w*|pretending to be (you|from)|posing as (you|your)"
        r"|is (this|that) (really )?you\b|is this (legit|real|genuine|a scam)\b"
        r"|asked (me )?for my (pin|password|card (number|details)|login|bank details|code))",
        re.I,
    ),
    # A call to act together, not one customer's "I'll never fly you again".
    "protest": re.compile(
        r"\b((let'?s|we('ll| will| are going to)|everyone|please|join( the| our| us in)?"
        r"|calling (on everyone |on you all )?(for|to)) boycott"
        r"|boycott (this|them|the|all|@\w+) .{0,40}\b(until|till|starting|from|share)"
        r"|protest(ing|s)?\b.{0,60}\b(outside|in front of)|demonstration (at|outside|in front)"
        r"|walk ?out (at|on|planned)|picket\w*|sit-in|rally (at|outside|on|in front)"
        r"|march (to|on) (your|the)|(meet|gather|gathering) (outside|in front of) (the|your)"
        r"|go(ing)? on strike)",
        re.I,
    ),
    "confidential_disclosure": re.compile(
        r"\b(leaked|leak(ing)?|internal (memo|document|email|numbers|figures)|confidential"
        r"|insider here|you heard it here first|not supposed to (say|tell|share)"
        r"|(i|we) work (at|for) [\w@ ]{1,30}\b.{0,80}\b(screenshot|specs|launch|layoffs|numbers|secret))",
        re.I,
    ),
    "self_harm": re.compile(
        r"\b(kill(ing)? myself|end(ing)? my life|suicid\w*|want to die|self[- ]harm|cut(ting)? myself"
        r"|don'?t want to (live|be alive))",
        re.I,
    ),
    "legal_threat": re.compile(
        r"\b(su(e|ing) (you|them|your)|lawsuit|my (lawyer|attorney|solicitor)|legal action"
        r"|small claims|class action|see you in court|report(ing)? (you|this) to the"
        r" (ftc|dot|faa|bbb|ombudsman|regulator|cma|fca|attorney general))",
        re.I,
    ),
}

_URGENT = re.compile(
    r"\b(urgent\w*|asap|emergency|immediately|right now|stranded|stuck (at|in|on)"
    r"|missed (my|the) (connection|flight)|medical|hospital|can'?t breathe|help!+|sos)\b",
    re.I,
)


def pattern_flags(text: str) -> set[str]:
    """The risk flags whose unambiguous phrasing appears in the text."""
    return {flag for flag, pattern in _FLAGS.items() if pattern.search(text)}


def sounds_urgent(text: str) -> bool:
    """Whether the author says time matters now (stranded, emergency, asap...)."""
    return _URGENT.search(text) is not None
