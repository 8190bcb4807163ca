"""Pattern signals for risk flags, a few unmistakable kinds of conversation, and urgency."""

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

# Kinds of conversation the guide defines by who is writing or what they ask for, where a
# few words settle it (a producer asking for an interview, a buyer asking for a group quote)
# but the statistical model, trained mostly on customers' tweets, hesitates.
_KINDS: dict[str, tuple[re.Pattern[str], ...]] = {
    # Both: someone from the media (or writing a story) and an ask (comment, interview...);
    # "I'll talk to a reporter about this" is a customer's complaint, so no bare "talk to",
    # and a producer or editor must introduce themselves ("editor at", "producer:"), not
    # be the photo editor in an app.
    "press_inquiry": (
        re.compile(
            r"\b(journalists?|reporters?|correspondents?|newsdesk|news desk|news crew|newsroom"
            r"|(producer|editor)s?(\s+(here|at|with|from|for)|\s*:\s*(?=\w))|podcast(er| host)"
            r"|blogger|documentary (team|crew|maker)|freelance writer"
            r"|(radio|tv|television) (show|station)"
            r"|writing (a|an|my|our) (piece|article|story|feature|report|column)|writing for"
            r"|working on (a|an) (piece|article|story|feature|report|documentary|segment)"
            r"|press (enquiry|inquiry)|media (request|enquiry|inquiry))\b",
            re.I,
        ),
        re.compile(
            r"\b(comment|statement|interview\w*|quote|on (the )?record|spokes(person|man|woman)"
            r"|press (contact|office|team|kit)|media relations|(official|your) response"
            r"|(get|be|put me) in touch|(a few|some) questions|confirm|join us|appear on"
            r"|who (can|should|do) i (contact|email|speak|talk|ask)|who handles|deadline"
            r"|publishing)\b",
            re.I,
        ),
    ),
    "sales_lead": (
        re.compile(
            r"\b((get|send|need|want|like|request|give)( me| us)? (a |an )?(quote|estimate)"
            r"|(^|a |an )quote (for|on)|pricing for|group (rate|fare|discount|deal)s?"
            r"|(make|book|do|want|like|need) (a )?group (booking|reservation)"
            r"|corporate (rate|discount|deal)s?|bulk (order|purchase|discount|pricing)"
            r"|(someone|somebody) (from|in) (your )?sales|(talk|speak) to (your |a )?sales"
            r"|ready to (book|buy|order|purchase|sign up)"
            r"|(price|cost|rate|pricing|quote)s? for (a |an )?(group|team|party|family) of"
            r"|how much (for|is|would|does)\b.{0,40}\b\d+ (people|users|seats|licen[cs]es|rooms"
            r"|units|guests|staff|employees|students))\b",
            re.I,
        ),
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


def kind_signals(text: str) -> set[str]:
    """The kinds of conversation whose unmistakable phrasing appears in the text."""
    return {kind for kind, patterns in _KINDS.items() if all(p.search(text) for p in patterns)}


def sounds_urgent(text: str) -> bool:
    """Whether the author says time matters now (stranded, emergency, asap...)."""
    return _URGENT.search(text) is not None
