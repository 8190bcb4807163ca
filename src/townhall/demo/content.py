"""Text templates for generated demo conversations, one set per kind of conversation."""

from __future__ import annotations

# Slots: {flight} {city} {city2} {days} {name} {product} {outlet} {amount} {store} {date}
TEMPLATES: dict[str, list[str]] = {
    "support_request": [
        "@{brand} how do I add my frequent flyer number to booking {ref}?",
        "@{brand} can I change the name on my ticket? Flying {city} to {city2} on {date}",
        "@{brand} what's the baggage allowance on the {product} fare?",
        "@{brand} I lost my password and the reset email never comes, can you help?",
        "@{brand} is there wifi on flight {flight}?",
        "@{brand} how early should I check in for {city} to {city2}?",
        "@{brand} can I bring my guitar as cabin luggage?",
        "@{brand} when does online check-in open for flight {flight}?",
        "@{brand} where can I find my invoice for booking {ref}?",
        "Hi @{brand}, does my {product} ticket include a seat selection?",
        "@{brand} my app shows an error when I connect my account, what should I do?",
        "@{brand} when is your webinar on the new loyalty programme?",
    ],
    "complaint": [
        "@{brand} flight {flight} delayed {days} hours and not a single update. Ridiculous.",
        "@{brand} {days} weeks and still no refund for my cancelled flight. Useless.",
        "@{brand} you lost my bag AGAIN. {city} airport, nobody answers the phone.",
        "@{brand} worst customer service ever, on hold for 2 hours and then cut off",
        "@{brand} great job cancelling my flight the night before. Thanks for nothing",
        "@{brand} paid for extra legroom on {flight} and got a broken seat. Want my money back",
        "@{brand} the crew on {flight} was rude to my elderly mother. Unacceptable.",
        "@{brand} charged me twice for the same booking {ref} and still no answer after {days} days",
        "@{brand} stuck on the tarmac in {city} for {days} hours, no water, no information",
    ],
    "feedback_praise": [
        "@{brand} shout out to the crew of {flight}, best flight I've had in years!",
        "@{brand} thanks {name} at the {city} desk for sorting my rebooking so fast",
        "Loving the new {product} seats @{brand}, so much more room",
        "@{brand} suggestion: let us pick meals in the app before boarding",
        "@{brand} smooth flight, on time, friendly staff. Well done",
        "@{brand} the new lounge in {city} is fantastic, thank you",
    ],
    "sales_lead": [
        "@{brand} how much for a group booking of {amount} people {city} to {city2} in {date}?",
        "@{brand} do you offer corporate travel accounts? Our company flies {amount} staff a month",
        "@{brand} thinking of switching from {competitor}, what does the {product} fare include?",
        "@{brand} is there still availability on {city} to {city2} next Friday? Want to book 4 seats",
        "@{brand} can someone from sales contact me about charter flights for our team?",
        "@{brand} price for business class {city} to {city2} return? Ready to book today",
    ],
    "press_inquiry": [
        "@{brand} I'm a reporter at {outlet} writing about the {city} delays, who can I speak to in PR?",
        "@{brand} journalist with {outlet} here, can you comment on today's cancellations? Deadline 5pm",
        "@{brand} {outlet} producer: we'd like an interview with your CEO about the new routes",
        "@{brand} writing a piece for {outlet} on airline refunds, please DM a press contact",
    ],
    "strategic": [
        "@{brand} why are you leaving the {city} market after 20 years?",
        "@{brand} any plans for a proper Android app? The web one is clunky",
        "@{brand} analyst at {outlet} here: will you expand long-haul capacity next year?",
        "@{brand} are you planning a partnership with {competitor}? Rumours everywhere",
        "@{brand} will the loyalty programme move to a revenue-based model?",
    ],
    "campaign_reply": [
        "@{brand} #SkywardSummer entered! Fingers crossed for those tickets to {city2}",
        "@{brand} my dream destination is {city2}! #FlyWithSkyward",
        "@{brand} done, tagged my travel buddy @{friend} for the giveaway",
        "@{brand} love this ad haha, the pilot dog is the best",
        "@{brand} {city2} for sure! Count me in for the contest",
    ],
    "impersonation_phishing": [
        "@{brand} is @Skyward_Help_Desk really you? They asked for my card PIN to process a refund",
        "@{brand} got a DM from 'Skyward Support' with a link to claim a free flight. Scam?",
        "Warning everyone: fake @{brand} page offering free tickets, it's a phishing site",
        "@{brand} someone is selling 'Skyward vouchers' on a site called skyward-rewards.win, legit?",
    ],
    "threat": [
        "@{brand} cancel my flight one more time and I'll burn down your {city} office",
        "someone should teach the @{brand} CEO a lesson, I know where he lives",
        "@{brand} there will be a bomb on flight {flight}, you've been warned",
    ],
    "protest": [
        "Everyone meet outside the @{brand} desk at {city} airport Saturday 10am, we want our refunds!",
        "Boycott @{brand}! Join the walkout at their HQ on {date} #RefundsNow",
        "Protest planned at the @{brand} shareholders meeting, bring banners",
    ],
    "employee_conduct": [
        "I work at @{brand} and the new {city2} route launches {date}, leaked schedule below",
        "My manager at @{brand} says we'll cut 200 jobs next month, don't tell anyone lol",
        "@{brand} your gate agent {name} was posting passenger photos on TikTok, is this ok?",
        "Working at @{brand} is a joke, management are clowns #insider",
    ],
    "spam": [
        "@{brand} make $5000/week from home click here bit.ly/{ref}",
        "@{brand} follow for follow? #f4f #travel",
        "@{brand} crypto giveaway!!! send 0.1 BTC get 1 BTC back",
        "@{brand} hot singles in {city} want to meet you",
    ],
    "other": [
        "Watching planes land at {city} with a coffee, @{brand} livery looks great",
        "Just saw an @{brand} plane fly over my house lol",
        "@{brand} what's the name of the song in your safety video?",
        "My cousin works for @{brand}, small world",
    ],
}

BRAND_REPLIES: dict[str, list[str]] = {
    "support_request": [
        "Hi {first}, happy to help! You can do that under Manage booking. Need anything else? ^CS",
        "Hi {first}, please DM us your booking reference and we'll sort it out. ^CS",
    ],
    "complaint": [
        "We're so sorry, {first}. Please DM your booking reference so we can look into this now. ^CS",
        "That's not the experience we want for you, {first}. We've escalated this to our team. ^CS",
    ],
    "feedback_praise": ["Thank you {first}, we'll pass this on to the team! ^MK"],
    "sales_lead": ["Hi {first}, our sales team would love to help. We've sent you a DM. ^SL"],
    "press_inquiry": [
        "Hi {first}, please email press@skyward.example and our PR team will respond. ^PR"
    ],
    "campaign_reply": ["Good luck {first}! ^MK"],
}

FOLLOW_UPS: dict[str, list[str]] = {
    "support_request": [
        "Thanks, that worked!",
        "Done, sent you a DM",
        "Still can't find it, any other way?",
    ],
    "complaint": [
        "DM sent. Still waiting for an actual answer.",
        "This is the third time I've been told that.",
        "Thanks, hope it gets sorted this time.",
    ],
    "sales_lead": ["Great, replied to the DM", "Thanks, looking forward to the quote"],
    "press_inquiry": ["Emailed, thanks", "Deadline is in 2 hours, please hurry"],
}

CITIES = [
    "London",
    "Paris",
    "Madrid",
    "Berlin",
    "Rome",
    "Lisbon",
    "Dublin",
    "Amsterdam",
    "New York",
    "Boston",
    "Toronto",
    "Chicago",
    "Miami",
    "Athens",
    "Oslo",
    "Vienna",
]
NAMES = [
    "Maria",
    "James",
    "Aisha",
    "Tom",
    "Priya",
    "Lukas",
    "Sofia",
    "Omar",
    "Emma",
    "Chen",
    "Noah",
    "Fatima",
    "Liam",
    "Yuki",
    "Ana",
    "Ben",
    "Chloe",
    "Diego",
    "Ella",
    "Hugo",
]
SURNAMES = [
    "Smith",
    "Garcia",
    "Khan",
    "Müller",
    "Rossi",
    "Silva",
    "Murphy",
    "Novak",
    "Dubois",
    "Jensen",
    "Okafor",
    "Tanaka",
    "Kowalski",
    "Nguyen",
    "Brown",
    "Lopez",
]
OUTLETS = ["The Daily Ledger", "Travel Weekly", "City Radio", "the Business Times", "AeroNews"]
COMPETITORS = ["BlueJet", "AirNova", "Zephyr Airlines"]
PRODUCTS = ["Saver", "Flex", "Premium Economy", "Business", "Comfort+"]
MONTHS = ["January", "March", "May", "July", "September", "December"]
