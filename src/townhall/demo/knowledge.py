"""The demo airline's knowledge base: answers to the routine questions its customers ask."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from townhall.knowledge.actions import KbAnswerInput, do_create_kb_answer
from townhall.knowledge.models import KbAnswer

# (title, answer, example questions)
DEMO_ANSWERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "Checked baggage allowance",
        "Light fares include one cabin bag (8 kg); Classic fares add one checked bag of 23 kg "
        "and Flex fares two. You can add bags in Manage booking up to 3 hours before departure, "
        "cheaper than at the airport: skyward.example/baggage",
        (
            "what's the baggage allowance on my fare?",
            "how many bags can I check in?",
            "is a checked bag included in my ticket?",
            "how heavy can my suitcase be?",
            "can I add an extra bag to my booking?",
        ),
    ),
    (
        "Cabin baggage and musical instruments",
        "You may bring one cabin bag (55×40×23 cm, 8 kg) and a small personal item. Instruments "
        "up to 100 cm fly in the cabin if they fit the overhead bin; larger ones need a seat of "
        "their own, bookable by phone.",
        (
            "can I bring my guitar as cabin luggage?",
            "what size can my hand luggage be?",
            "can I take a violin on board?",
            "is a backpack allowed in addition to my carry-on?",
        ),
    ),
    (
        "Refund for a cancelled flight",
        "If we cancelled your flight you get a full refund to the original payment method within "
        "7 working days of your request at skyward.example/refund. Send us a DM with your "
        "booking reference if it has been longer and we will chase it for you.",
        (
            "how do I get a refund for my cancelled flight?",
            "my flight was cancelled, can I get my money back?",
            "when will I receive my refund?",
            "how long does a refund take?",
        ),
    ),
    (
        "Online check-in",
        "Online check-in opens 30 hours before departure and closes 2 hours before (3 hours for "
        "long-haul) in the app or at skyward.example/checkin. Your boarding pass goes to your "
        "phone's wallet.",
        (
            "when does online check-in open?",
            "how early should I check in?",
            "how do I check in online?",
            "can I check in on the app?",
            "what time does check-in close?",
        ),
    ),
    (
        "Travelling with pets",
        "Cats and dogs up to 8 kg including their bag travel in the cabin for EUR 50 per flight; "
        "larger animals travel in the hold. Book the pet by phone at least 48 hours before the "
        "flight, as places are limited. Assistance dogs always fly free.",
        (
            "can I bring my dog on the plane?",
            "do you allow pets in the cabin?",
            "how much does it cost to fly with my cat?",
            "can my pet travel with me?",
        ),
    ),
    (
        "Changing your seat",
        "You can choose or change your seat in Manage booking or the app until check-in closes. "
        "Seat selection is free on Flex fares and from EUR 8 on Light and Classic fares.",
        (
            "how do I change my seat?",
            "does my ticket include a seat selection?",
            "can I pick a seat next to my partner?",
            "is seat selection free?",
        ),
    ),
    (
        "Name change on a ticket",
        "Spelling corrections of up to 3 letters are free in Manage booking. Changing the "
        "traveller to another person is possible on Flex fares for EUR 60; other fares are not "
        "transferable.",
        (
            "can I change the name on my ticket?",
            "my name is misspelled on my booking",
            "can someone else use my ticket?",
        ),
    ),
    (
        "Frequent flyer number",
        "Add your SkyMiles number in Manage booking under Passengers, or at check-in. Miles for "
        "past flights can be claimed up to 6 months later at skyward.example/miles.",
        (
            "how do I add my frequent flyer number to my booking?",
            "I forgot to add my SkyMiles number",
            "how can I claim missing miles?",
        ),
    ),
    (
        "Wi-Fi on board",
        "All our A320neo and 787 aircraft have Wi-Fi: messaging is free, browsing costs EUR 5 "
        "per flight. Your booking shows the aircraft type.",
        (
            "is there wifi on the flight?",
            "do you have internet on board?",
            "is wifi free on your planes?",
        ),
    ),
    (
        "Invoice for a booking",
        "Download your invoice in Manage booking under Receipts, or request one with a company "
        "name and VAT number at skyward.example/invoice.",
        (
            "where can I find my invoice?",
            "I need a receipt for my booking",
            "can I get an invoice with my company details?",
        ),
    ),
    (
        "Password reset",
        "Reset your password at skyward.example/reset. If the email does not arrive within 10 "
        "minutes, check your spam folder and that you use the address of your SkyMiles account; "
        "otherwise DM us and we will help.",
        (
            "I lost my password",
            "the password reset email never comes",
            "I can't log in to my account",
            "how do I reset my password?",
        ),
    ),
    (
        "App connection error",
        "Please update the app to the latest version and sign out and in again; that fixes most "
        "connection errors. If it still fails, DM us the error message and your phone model.",
        (
            "my app shows an error when I connect my account",
            "the app is not working",
            "I get an error when I log in to the app",
        ),
    ),
    (
        "Delayed or lost baggage",
        "Sorry your bag did not arrive. Report it at skyward.example/bags with your file "
        "reference from the airport; you can follow the search there and we reimburse essential "
        "purchases up to EUR 150 while you wait.",
        (
            "my bag never arrived",
            "where is my luggage?",
            "how do I report a missing suitcase?",
            "my baggage was left behind",
        ),
    ),
    (
        "Travelling with children",
        "Children under 2 fly on an adult's lap for 10% of the fare; from 2 years they need their "
        "own seat. Children from 12 may fly alone; younger ones need our escort service, bookable "
        "by phone.",
        (
            "can my baby sit on my lap?",
            "can my child fly alone?",
            "do children need their own seat?",
        ),
    ),
    (
        "Loyalty programme webinar",
        "Our next webinar on the new SkyMiles tiers is on the first Tuesday of the month at "
        "18:00 CET; sign up at skyward.example/webinar and we send you the recording too.",
        (
            "when is your webinar on the new loyalty programme?",
            "how can I join the SkyMiles webinar?",
            "is there a recording of the loyalty webinar?",
        ),
    ),
    (
        "Special assistance",
        "Request wheelchair or other assistance in Manage booking at least 48 hours before "
        "departure; it is free, and our staff meet you at check-in.",
        (
            "I need a wheelchair at the airport",
            "how do I book special assistance?",
            "my mother needs help boarding the plane",
        ),
    ),
)


def seed_knowledge_base(session: Session, org_id: int) -> int:
    """Create the demo answers that are missing (by title); returns how many were created."""
    existing = set(session.scalars(select(KbAnswer.title).where(KbAnswer.org_id == org_id)))
    created = 0
    for title, answer, examples in DEMO_ANSWERS:
        if title in existing:
            continue
        data = KbAnswerInput(title=title, answer=answer, examples=list(examples), language="en")
        do_create_kb_answer(session, org_id, data, None)
        created += 1
    return created
