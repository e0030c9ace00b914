"""A synthetic company with planted structure: customers, a month of feedback, and the truth.

Used by ``refine demo``, the tests and the proposals benchmark. Everything is drawn from one
``numpy.random.Generator`` tree seeded by ``seed`` (no global random state, no clock), so the same
seed always gives the same frames, byte for byte.

What is planted (``null=False``); with ``null=True`` none of it is:

* **merge** - "Potential Loyalists" and "Promising" share every generating parameter for themes,
  sentiment, churn and revenue (their attributes differ a little: Promising is newer, smaller
  baskets). Under the null, Promising gets its own, clearly different parameters.
* **split** - inside "Loyal", customers with ``channel == "app"`` (~40% of Loyal) write mostly about
  app crashes / login (about 55% of their comments vs 8%), are less satisfied, and churn more
  (about 18% vs 6%).
* **new** - in every segment, customers with ``region == "north"`` (~20% of all) complain about
  late delivery far more (about +40 points of theme share), are less satisfied and churn about
  +9 points more. One rule, ``region == "north"``, describes it across segments.

Everything else (themes, tone, rating, churn, revenue) depends on the segment only, never on an
attribute beyond what the segment explains; attributes still correlate with the segment, as in a
real CRM, so a tool that forgets to condition on segment sees spurious differences.

Example:
    >>> company = generate_company(seed=0)
    >>> paths = write_demo_data(Path("demo"), company)
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from refine.errors import RefineError

SEGMENTS = ("Champions", "Loyal", "Potential Loyalists", "Promising", "At Risk", "Hibernating")
THEMES = ("delivery", "sizing", "app", "price", "support", "quality", "returns", "loyalty", "checkout", "praise")
THEME_LABELS = {
    "delivery": "delivery speed and delays",
    "sizing": "sizing and fit",
    "app": "app crashes and login",
    "price": "price and value",
    "support": "staff and customer support",
    "quality": "product quality and defects",
    "returns": "returns and refunds",
    "loyalty": "loyalty rewards",
    "checkout": "checkout and payment",
    "praise": "general experience",
}
TONES = ("negative", "neutral", "positive")
REGIONS = ("north", "south", "east", "west")
PLANS = ("basic", "plus", "premium")
CHANNELS = ("app", "web", "store")
SOURCES = ("survey", "review", "ticket")
MONTH_START = pd.Timestamp("2024-05-01")  # fixed reference month: nothing depends on the clock
MONTH_DAYS = 31

# ---- planted effects (null=False) ----------------------------------------------------------
SPLIT_SEGMENT, SPLIT_COLUMN, SPLIT_VALUE, SPLIT_THEME = "Loyal", "channel", "app", "app"
SPLIT_THEME_SHARE = 0.55  # share of the group's comments whose main theme is the app (base: 8%)
SPLIT_CHURN_ADD = 0.12  # 6% -> 18%
SPLIT_SATISFACTION_SHIFT = -0.7  # in units of the latent satisfaction (sd ~0.8 within a segment)
NEW_COLUMN, NEW_VALUE, NEW_THEME = "region", "north", "delivery"
NEW_THEME_ADD = 0.40  # points of main-theme share added in every segment
NEW_CHURN_ADD = 0.09
NEW_SATISFACTION_SHIFT = -0.5
PLANTED_NEGATIVE = (0.85, 0.10, 0.05)  # tone of a comment the planted effect wrote: mostly complaints

SECOND_COMMENT = 0.08  # share of respondents who write twice in the month
PII_SHARE = 0.03
QUALITY_SHARE = 0.01  # each of: blank text, exact duplicate row, unknown customer id
CHURN_SATISFACTION = -0.35  # churners are a little less satisfied (same rule in every segment)


@dataclass(frozen=True)
class _Segment:
    share: float
    region: tuple[float, ...]  # north, south, east, west
    plan: tuple[float, ...]  # basic, plus, premium
    channel: tuple[float, ...]  # app, web, store
    tenure_months: float  # mean
    orders_12m: float  # mean
    avg_order_value: float  # median
    age: float  # mean
    newsletter: float
    response: float  # relative propensity to answer
    themes: tuple[float, ...]  # weights over THEMES
    satisfaction: float  # latent mean; drives tone and rating
    churn: float
    revenue_12m: float  # median


#                                   delivery sizing app price support quality returns loyalty checkout praise
_BASE = {
    "Champions": _Segment(
        0.11,
        (0.16, 0.27, 0.30, 0.27),
        (0.15, 0.35, 0.50),
        (0.50, 0.35, 0.15),
        40,
        14,
        85,
        44,
        0.75,
        1.30,
        (0.06, 0.05, 0.06, 0.06, 0.16, 0.14, 0.03, 0.18, 0.04, 0.22),
        1.00,
        0.03,
        1500,
    ),
    "Loyal": _Segment(
        0.22,
        (0.19, 0.30, 0.25, 0.26),
        (0.30, 0.45, 0.25),
        (0.40, 0.38, 0.22),
        30,
        9,
        70,
        42,
        0.60,
        1.15,
        (0.08, 0.07, 0.08, 0.10, 0.14, 0.12, 0.05, 0.18, 0.06, 0.12),
        0.60,
        0.06,
        800,
    ),
    "Potential Loyalists": _Segment(
        0.17,
        (0.20, 0.25, 0.27, 0.28),
        (0.50, 0.35, 0.15),
        (0.42, 0.40, 0.18),
        9,
        4,
        55,
        36,
        0.45,
        1.00,
        (0.10, 0.18, 0.06, 0.16, 0.06, 0.12, 0.14, 0.04, 0.08, 0.06),
        0.15,
        0.12,
        300,
    ),
    "Promising": _Segment(
        0.14,
        (0.20, 0.25, 0.27, 0.28),
        (0.58, 0.31, 0.11),
        (0.46, 0.39, 0.15),
        6,
        3,
        50,
        33,
        0.40,
        1.00,
        (0.10, 0.18, 0.06, 0.16, 0.06, 0.12, 0.14, 0.04, 0.08, 0.06),
        0.15,
        0.12,
        300,
    ),
    "At Risk": _Segment(
        0.16,
        (0.23, 0.28, 0.22, 0.27),
        (0.45, 0.35, 0.20),
        (0.30, 0.40, 0.30),
        28,
        3,
        60,
        45,
        0.35,
        0.70,
        (0.12, 0.06, 0.06, 0.18, 0.12, 0.18, 0.16, 0.02, 0.06, 0.04),
        -0.60,
        0.30,
        350,
    ),
    "Hibernating": _Segment(
        0.20,
        (0.23, 0.30, 0.22, 0.25),
        (0.70, 0.22, 0.08),
        (0.20, 0.35, 0.45),
        34,
        1,
        40,
        39,
        0.20,
        0.60,
        (0.12, 0.06, 0.04, 0.26, 0.04, 0.12, 0.08, 0.10, 0.04, 0.14),
        -0.30,
        0.42,
        80,
    ),
}
# Under the null, Promising is its own segment: newer customers stuck at checkout and in the app,
# less satisfied, churning more, spending less than Potential Loyalists.
_NULL_PROMISING: dict[str, Any] = dict(
    themes=(0.10, 0.08, 0.12, 0.10, 0.06, 0.08, 0.08, 0.04, 0.22, 0.12), satisfaction=-0.25, churn=0.22, revenue_12m=200
)

# a theme's own pull on tone: a comment about support leans kind, one about checkout leans sour
_THEME_TONE_BIAS = np.array([-0.5, -0.3, -0.6, -0.3, 0.5, -0.1, -0.5, 0.3, -0.6, 1.0])

# ---- text -----------------------------------------------------------------------------------

_SLOTS: dict[str, tuple[str, ...]] = {
    "product": (
        "jacket",
        "pair of sneakers",
        "pair of jeans",
        "dress",
        "hoodie",
        "backpack",
        "coffee maker",
        "pair of headphones",
        "blender",
        "t-shirt",
        "pair of boots",
        "desk lamp",
        "rain coat",
        "duvet cover",
        "pair of running shoes",
        "phone case",
        "kettle",
        "winter coat",
        "yoga mat",
        "water bottle",
        "handbag",
        "sweater",
        "bedding set",
        "air fryer",
        "frying pan",
        "toaster",
        "office chair",
        "bluetooth speaker",
    ),
    "clothing": (
        "pair of jeans",
        "jacket",
        "dress",
        "hoodie",
        "pair of sneakers",
        "pair of boots",
        "t-shirt",
        "pair of running shoes",
        "winter coat",
        "shirt",
        "sweater",
        "pair of trousers",
        "skirt",
        "blazer",
        "cardigan",
        "parka",
        "swimsuit",
    ),
    "top": ("jacket", "hoodie", "shirt", "sweater", "blazer", "cardigan", "parka", "winter coat"),
    "bottom": ("pair of jeans", "pair of trousers", "skirt", "pair of shorts", "pair of leggings"),
    "span": (
        "two weeks",
        "10 days",
        "over a week",
        "almost three weeks",
        "12 days",
        "nine days",
        "a full week",
        "eight days",
        "more than two weeks",
        "3 weeks",
        "11 days",
        "nearly a month",
        "two and a half weeks",
    ),
    "span2": ("a week", "five days", "4-5 days", "about a week", "six days", "5 working days"),
    "fastspan": (
        "two days",
        "one day",
        "48 hours",
        "less than three days",
        "24 hours",
        "a day and a half",
        "just over a day",
    ),
    "intens": (
        "really",
        "very",
        "super",
        "so",
        "extremely",
        "incredibly",
        "pretty",
        "quite",
        "seriously",
        "genuinely",
        "honestly",
    ),
    "courier": ("the courier", "the driver", "the delivery guy", "UPS", "DHL", "the carrier", "the postman", "FedEx"),
    "staff": (
        "the staff",
        "the guy at the counter",
        "the support agent",
        "customer service",
        "the lady on the phone",
        "the chat agent",
        "the store team",
        "the manager",
        "the sales assistant",
        "the young man at the till",
    ),
    "app_action": (
        "log in",
        "check out",
        "track my order",
        "open my orders",
        "apply a coupon",
        "see my points",
        "pay",
        "update my address",
        "add items to my basket",
        "open the sale page",
    ),
    "crashcount": ("three times", "twice", "again and again", "five times in a row", "four times", "every few minutes"),
    "points": ("points", "reward points", "loyalty points", "rewards", "bonus points", "member points"),
    "pay": ("Apple Pay", "PayPal", "Google Pay", "my credit card", "a gift card", "Klarna", "my debit card"),
    "amount": ("$5", "$8", "$10", "$12", "$15", "$20", "$25", "$30", "$40", "$18"),
    "waittime": (
        "45 minutes",
        "over an hour",
        "30 minutes",
        "20 minutes",
        "an hour and a half",
        "40 minutes",
        "almost an hour",
    ),
    "usespan": (
        "two weeks",
        "a month",
        "three days",
        "a couple of uses",
        "a week",
        "10 days",
        "barely a month",
        "six weeks",
    ),
    "washes": ("one wash", "the first wash", "two washes", "a couple of washes", "three washes"),
}

# theme -> tone -> phrasings. {slot} is filled from _SLOTS.
_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "delivery": {
        "negative": (
            "My order took {span} to arrive, way longer than promised.",
            "Still waiting on my {product}, it's been {span} and tracking hasn't moved.",
            "Delivery was {intens} slow this time, {span} for a simple {product}.",
            "The parcel was stuck at the depot for {span} and nobody could tell me why.",
            "You promised next day delivery and my {product} came after {span}.",
            "{courier} marked it as delivered but it only showed up {span} later.",
            "Shipping is getting slower every month, {span} is not acceptable.",
            "Ordered the {product} as a gift and it arrived {span} late, after the birthday.",
            "The delivery window kept getting pushed back, in the end it took {span}.",
            "Tracking said out for delivery three days in a row and no {product} came.",
            "I had to chase {courier} twice before my {product} finally turned up.",
            "Delivery times in my area are a joke, {span} every single time.",
            "Why does shipping take {span} when the website says 2-3 days?",
            "The parcel was left at the wrong address and it took {span} to sort out.",
            "Late delivery again, {span} for a {product} is {intens} frustrating.",
            "The estimated delivery date came and went with no update and no email.",
        ),
        "positive": (
            "Delivery was {intens} fast, my {product} arrived in {fastspan}.",
            "Shipping was quicker than expected, the {product} arrived a day early.",
            "{courier} was friendly and the parcel came right on time.",
            "Love how quick delivery is, {fastspan} from order to doorstep.",
            "Tracking updates were spot on and the {product} arrived when promised.",
            "Super speedy delivery and {intens} well packed too.",
            "Got my {product} in {fastspan}, couldn't ask for more.",
            "Delivery is always reliable, never had a late parcel.",
            "Free next day delivery on my {product} was a nice surprise.",
            "The delivery slot option is great, {courier} turned up exactly in the window.",
            "Arrived {fastspan} after ordering, {intens} impressed.",
            "Fast shipping and the box was in perfect condition.",
            "My {product} was delivered in {fastspan} even with the holiday.",
        ),
        "neutral": (
            "Delivery took about {span2}, which is okay I guess.",
            "Shipping was average, not fast but not slow either.",
            "The {product} arrived within the estimated window, nothing special.",
            "Delivery was fine but the tracking info could be more detailed.",
            "The parcel arrived {span2} after ordering, would be nice if it were quicker.",
            "My {product} came on the last day of the delivery estimate.",
        ),
    },
    "sizing": {
        "negative": (
            "The {clothing} runs {intens} small, I had to send it back.",
            "Sizing is all over the place, a medium in one item is a large in another.",
            "Ordered my usual size and the {clothing} was way too tight.",
            "The size chart is useless, the {clothing} fits nothing like it says.",
            "The {clothing} was huge on me, at least two sizes bigger than normal.",
            "The sleeves on the {top} are too short even in a large.",
            "The fit is terrible, the {clothing} looks nothing like it does on the model.",
            "Had to return the {clothing} twice because of sizing, {intens} annoying.",
            "Why is a size 10 in your {clothing} smaller than a size 8 elsewhere?",
            "The waist on the {bottom} is cut weird, it doesn't fit anyone I know.",
            "Your shoes run half a size small, the page should say so.",
            "The {clothing} shrank a full size after {washes}.",
            "Different colours of the same {clothing} come in different sizes, how is that possible?",
            "I never know what size to order anymore, every {clothing} is a lottery.",
        ),
        "positive": (
            "The {clothing} fits perfectly, true to size.",
            "Finally a brand where my usual size actually fits, the {clothing} is spot on.",
            "The size guide was accurate and the {clothing} fits like a glove.",
            "Great fit on the {clothing}, {intens} comfortable.",
            "Love the cut of the {clothing}, flattering and just the right length.",
            "Sizing is consistent across everything I've bought, so I reorder without worrying.",
            "The fit finder recommended a size for the {clothing} and it was exactly right.",
            "Ordered a medium {clothing} and it fits just right.",
            "The {clothing} fits better than the one I bought in a store elsewhere.",
            "Nice that you list the model's height and size, it helped me pick the right {clothing}.",
            "True to size and the fabric has a bit of stretch, {intens} happy with the {clothing}.",
            "The {clothing} fit my son perfectly, he wears it every day.",
            "No more guessing sizes, the measurements on the page are accurate.",
        ),
        "neutral": (
            "The {clothing} fits ok but runs a little long.",
            "Fit is fine, maybe size down on the {clothing} if you are between sizes.",
            "The {clothing} is true to size, though the arms are a bit snug.",
            "Sizing seems about standard, nothing to complain about.",
            "The {clothing} fits alright, not as slim as I expected.",
        ),
    },
    "app": {
        "negative": (
            "The app keeps crashing every time I try to {app_action}.",
            "Can't log in to the app, it says my password is wrong even after resetting it.",
            "The app crashed {crashcount} while I was trying to {app_action}.",
            "Since the last update the app freezes on the home screen.",
            "I get logged out of the app constantly and have to enter the code again.",
            "The app won't load my orders, just a spinning wheel.",
            "Login is broken, the verification code never arrives so I can't {app_action}.",
            "The app is {intens} buggy, it closed itself {crashcount} today.",
            "Tried to {app_action} in the app and it crashed, lost my whole basket.",
            "The new app version is unusable on my phone, it crashes on startup.",
            "The Face ID login stopped working in the app after the update.",
            "The app logs me out every time I switch to another app.",
            "Why do I have to reinstall the app every week just to {app_action}?",
            "I get an error in the app whenever I try to {app_action}.",
            "The app is so slow and keeps crashing, I've given up and use the website.",
        ),
        "positive": (
            "The app is {intens} easy to use, I can {app_action} in seconds.",
            "Love the new app update, much faster and no crashes.",
            "Logging in with Face ID in the app is so convenient.",
            "The app works perfectly, best shopping app I use.",
            "Tracking my order in the app is smooth and simple.",
            "Really like the app's wishlist and the notifications for price drops.",
            "The app has never crashed on me, {intens} stable.",
            "The app is clean and quick, I can {app_action} without any hassle.",
            "Switching to the app was the best decision, everything is in one place.",
            "The redesigned app looks great and loads fast.",
            "Love that I can {app_action} straight from the app.",
            "App login is quick now, the one-tap sign in is great.",
            "Great app, intuitive and reliable, {intens} well done.",
        ),
        "neutral": (
            "The app works okay but search could be better.",
            "The app is fine, though it takes a while to load sometimes.",
            "I mostly use the app to {app_action}, it does the job.",
            "The app is decent, a dark mode would be nice.",
            "The app works, but I had to log in again after the update.",
        ),
    },
    "price": {
        "negative": (
            "Prices have gone up {intens} much lately, {amount} more for the same {product}.",
            "Way too expensive for what you get.",
            "The {product} is overpriced compared to other shops.",
            "Shipping fees of {amount} on a small order are ridiculous.",
            "I used to find good deals here, now everything costs more.",
            "Not worth the money, the {product} feels cheap for that price.",
            "Found the same {product} {amount} cheaper elsewhere.",
            "Your prices keep creeping up while the quality goes down.",
            "The sale prices are barely discounted, it feels like a gimmick.",
            "Paying {amount} extra a month for premium and I don't see the value.",
            "Too pricey for everyday stuff like a {product}, I only buy when there's a sale.",
            "The membership fee went up again and I get nothing new for it.",
            "Honestly the prices are the reason I shop less often now.",
            "Hidden fees made the {product} {amount} more than the listed price.",
        ),
        "positive": (
            "Great value for money, the {product} is worth every cent.",
            "Prices are fair and the quality is good.",
            "Got the {product} on sale for {amount} off, amazing deal.",
            "Cheaper than most other stores and just as good.",
            "Love the weekly deals, I always find something at a good price.",
            "{intens} reasonable prices for the quality you get.",
            "The {product} was {intens} good value, would buy again.",
            "Free shipping over a small amount is a great deal.",
            "You can't beat these prices, I compared a few sites before buying the {product}.",
            "Good price on the {product} and the student discount helped too.",
            "Affordable and decent quality, exactly what I need.",
            "The bundle deal saved me {amount}, very happy.",
            "Price matching on the {product} worked without any fuss.",
        ),
        "neutral": (
            "Prices are okay, about the same as other places.",
            "The {product} is a bit pricey but the quality is fine.",
            "Decent prices, though shipping could be cheaper.",
            "Value is average, I'd buy more with better discounts.",
            "Not the cheapest, not the most expensive.",
        ),
    },
    "support": {
        "negative": (
            "{staff} was rude and didn't even try to help.",
            "Waited {waittime} on hold and then the call dropped.",
            "Customer service never answered my emails, {span} and counting.",
            "The chat agent kept sending copy-paste replies that had nothing to do with my question.",
            "{staff} was dismissive and made me feel stupid for asking.",
            "Support promised a call back that never happened.",
            "Nobody in the store could answer a simple question about the {product}.",
            "I had to explain my problem to four different people.",
            "The support team closed my ticket without fixing anything.",
            "The staff were chatting with each other and ignored me at the counter.",
            "Terrible customer service, {intens} unhelpful.",
            "I was transferred three times and still have no answer.",
            "The agent hung up on me when I asked for a manager.",
            "Support is impossible to reach, I waited {waittime} and gave up.",
        ),
        "positive": (
            "{staff} was {intens} friendly and helpful.",
            "Customer service sorted my issue in minutes, great job.",
            "The chat agent was patient and really knew their stuff.",
            "Big thanks to {staff}, who went above and beyond for me.",
            "The staff in the store were lovely and helped me find the right {product}.",
            "Support replied within an hour and fixed everything.",
            "So nice to talk to a real person who actually cares.",
            "The team on the phone was polite and quick.",
            "{staff} gave me great advice on which {product} to pick.",
            "Every time I contact support they are helpful and kind.",
            "Excellent service from {staff}, {intens} impressed.",
            "The support person followed up the next day to check everything was fine.",
            "Friendly staff, always a pleasure to shop here.",
        ),
        "neutral": (
            "Support answered eventually, it took a couple of days.",
            "{staff} was polite but couldn't really solve my problem.",
            "Customer service was okay, nothing special.",
            "Got a reply from support, still waiting to see if it works.",
            "The staff were fine, the store was just very busy.",
        ),
    },
    "quality": {
        "negative": (
            "The {product} broke after {usespan}.",
            "Quality has really gone downhill, the {product} feels flimsy.",
            "The stitching came apart on my {clothing} after {usespan}.",
            "The {product} arrived with a big scratch on it, clearly defective.",
            "My {product} stopped working after {usespan}.",
            "The colour of my {clothing} faded after {washes}, {intens} disappointing.",
            "Cheap materials, the zip on the {clothing} snapped right away.",
            "Received a damaged {product}, the box was fine so it left the warehouse like that.",
            "The {product} smells of chemicals and already looks worn.",
            "Poor quality control, my {clothing} had a hole in it.",
            "This is the second {product} in a row with the same defect.",
            "The {product} is not the quality I expect from you anymore.",
            "The sole of my shoes came off after {usespan}.",
            "Parts were missing from the {product} and the instructions were wrong.",
        ),
        "positive": (
            "The {product} is {intens} well made, feels like it will last years.",
            "Excellent quality, much better than I expected from the photos.",
            "Great materials and the stitching on the {product} is solid.",
            "I've had my {product} for a year and it still looks new.",
            "Top quality {product}, you can tell it's built to last.",
            "The fabric of the {clothing} is soft and thick, it feels {intens} premium.",
            "Quality is consistently high, never had a faulty item.",
            "Really impressed with the build quality of the {product}.",
            "The {clothing} survived a lot of washes and still looks great.",
            "Sturdy, well finished and looks exactly like the photos.",
            "Best {product} I've owned, the quality is outstanding.",
            "Solid quality for the price, {intens} pleased with the {product}.",
            "Beautifully made, the details on the {product} are lovely.",
        ),
        "neutral": (
            "Quality is fine, nothing amazing.",
            "The {product} is okay, a bit thinner than I expected.",
            "Decent quality overall, one small loose thread on the {clothing}.",
            "The {product} does the job, quality about what you'd expect.",
            "The {product} looks good, let's see how it holds up.",
        ),
    },
    "returns": {
        "negative": (
            "Still waiting for my refund, it's been {span}.",
            "The returns process is {intens} complicated, I had to print three labels.",
            "Sent the {product} back {span} ago and no refund yet.",
            "You charged me a return fee even though the {product} was faulty.",
            "The refund went to the wrong card and nobody can fix it.",
            "The returns portal keeps giving an error so I can't send the {product} back.",
            "They rejected my return saying the {clothing} was worn, it wasn't.",
            "Only got store credit instead of a refund, not what I asked for.",
            "I returned two items and was only refunded for one.",
            "The drop-off point for returns is miles away from me.",
            "The return label never arrived by email, I had to call {staff} twice.",
            "Refunds take forever, {span} is ridiculous.",
            "Returned the {product} in store and they still haven't processed it.",
            "Got a partial refund for the {product} with no explanation, really poor.",
        ),
        "positive": (
            "Returns were {intens} easy, the refund came within {fastspan}.",
            "Free returns and the label was in the box, so simple.",
            "Returned the {product} in store, it took two minutes.",
            "Got my refund for the {product} quickly, no questions asked.",
            "Hassle-free return process, {intens} appreciated.",
            "The QR code return was great, no printer needed.",
            "The refund was on my card before I even dropped the parcel off, impressive.",
            "Exchanging the {clothing} for another size was painless.",
            "Easy returns are the reason I keep ordering here.",
            "They refunded the shipping on the {product} too, very fair.",
            "The 60 day return window is generous, thanks.",
            "Returns pickup from my home was super convenient.",
            "Smooth return and refund, {intens} happy with how it was handled.",
        ),
        "neutral": (
            "My return was processed, it took about {span2}.",
            "Returns are fine but you have to pay for the label.",
            "The refund for the {product} came through eventually.",
            "Returned the {product}, the process was standard.",
            "The return label worked, waiting on the refund now.",
        ),
    },
    "loyalty": {
        "negative": (
            "My {points} expired without any warning.",
            "The rewards program is useless, you need to spend a fortune to get anything.",
            "The {points} from my last order never showed up in my account.",
            "You changed the rewards program and my {points} are worth half now.",
            "Can't redeem my {points} at checkout, the button does nothing.",
            "The birthday voucher never arrived this year.",
            "The loyalty perks are a joke compared to other stores.",
            "I've been a member for years and get nothing special for it.",
            "The tier system is confusing, I dropped a level for no reason.",
            "Member discounts don't apply to sale items, so what's the point.",
            "My {points} take {span} to show up, by then I've already ordered again.",
            "The new {points} rules feel like a cash grab.",
            "The vouchers expire way too fast to be useful.",
        ),
        "positive": (
            "Love the rewards program, I get a voucher every few orders.",
            "The {points} add up fast, I just got {amount} off my order.",
            "Great loyalty perks, free shipping as a member is fantastic.",
            "The birthday discount was a lovely touch.",
            "Being a member really pays off, early access to sales is great.",
            "Redeeming my {points} at checkout is {intens} easy.",
            "I keep shopping here because of the {points}.",
            "The double {points} weekend was awesome.",
            "The member-only prices make a real difference.",
            "Got a surprise reward for being a long-time customer, thank you.",
            "The loyalty program is generous compared to other shops.",
            "Love seeing my {points} balance grow every month.",
            "The free gift for gold members was {intens} nice.",
        ),
        "neutral": (
            "The rewards are okay, I don't really use them much.",
            "Not sure how the {points} work, it could be explained better.",
            "The loyalty program is fine, nothing that stands out.",
            "I collect {points} but rarely remember to redeem them.",
            "The member perks are alright.",
        ),
    },
    "checkout": {
        "negative": (
            "Payment failed three times at checkout but I was still charged.",
            "Checkout keeps rejecting my card even though it works everywhere else.",
            "Couldn't pay with {pay}, the page just froze.",
            "The discount code wouldn't apply at checkout.",
            "I was charged twice for the same {product}.",
            "Checkout is {intens} slow and times out before I can pay.",
            "The option to pay with {pay} disappeared from checkout, really annoying.",
            "My basket emptied itself during payment.",
            "Got an error at the payment step and no order confirmation.",
            "The card verification loops forever, I can't complete my purchase.",
            "Checkout forces me to create an account when I just want to pay.",
            "The total changed at the last step of checkout, very sneaky.",
            "My payment was declined with no reason given, I had to order the {product} by phone.",
            "The address field at checkout won't accept my postcode.",
        ),
        "positive": (
            "Checkout was quick and painless.",
            "Paying with {pay} is {intens} convenient.",
            "Love the one-click checkout, so fast.",
            "Payment went through instantly and I got a confirmation right away.",
            "Easy checkout, the discount code applied without problems.",
            "Great that you accept {pay} at checkout now.",
            "Smooth payment process, no surprises in the total.",
            "Guest checkout is a lifesaver, no account needed.",
            "Checkout remembers my address and card, it takes seconds.",
            "The buy now pay later option at checkout is {intens} handy.",
            "Never had a problem paying, everything just works.",
            "Checkout on mobile is clean and simple.",
            "Fast, secure payment with {pay}, {intens} easy.",
        ),
        "neutral": (
            "Checkout works but has too many steps.",
            "Payment was fine, the confirmation email took a while.",
            "It would be good to have {pay} as an option at checkout.",
            "Checkout is okay, a bit clunky on mobile.",
            "Paid without issues, though the payment page was slow.",
        ),
    },
    "praise": {
        "negative": (
            "Overall the experience was {intens} disappointing.",
            "Not impressed this time, I expected much better.",
            "I used to love this store, not anymore.",
            "Honestly I'm thinking of shopping somewhere else.",
            "Everything about this order went wrong.",
            "Really let down, I won't be recommending you.",
            "The whole experience was a mess from start to finish.",
            "Your service has gone downhill over the last year.",
            "Not what it used to be, sadly.",
            "I'm done, this was my last order.",
            "A pretty bad experience overall, {intens} frustrating.",
            "I can't say anything good about the {product} or the service.",
            "Mediocre at best, I expected more from you.",
        ),
        "positive": (
            "Great experience as always, thank you!",
            "Love shopping here, {intens} happy with everything.",
            "Absolutely fantastic, will definitely order again.",
            "Best online store I've used, highly recommend.",
            "Everything was perfect, keep up the good work.",
            "Really happy with my {product}, five stars.",
            "Always a pleasure, never disappoints.",
            "Brilliant service and great products.",
            "I recommend you to all my friends.",
            "Couldn't be happier with my {product}.",
            "You guys are the best, thanks for everything.",
            "Top notch from start to finish.",
            "Such a good experience, {intens} impressed.",
            "My go-to shop for years now, love it.",
        ),
        "neutral": (
            "All fine, nothing to add.",
            "Good overall, a few small things could be better.",
            "It was okay.",
            "An average experience, no complaints really.",
            "Fine as usual.",
            "No strong feelings, the {product} did what I needed.",
        ),
    },
}

_OPENERS = (
    ("Hi.", False),
    ("Hello team.", False),
    ("Hi there!", False),
    ("Honestly,", True),
    ("To be honest,", True),
    ("Ok so", True),
    ("Tbh", True),
    ("Quick feedback:", False),
    ("Well,", True),
    ("Feedback on my last order:", False),
)
_CLOSERS = {
    "negative": (
        "Please fix this.",
        "Not happy.",
        "Very disappointed.",
        "Sort it out please.",
        "Expected better.",
        "This needs to improve.",
        "Really annoyed.",
    ),
    "neutral": ("Thanks.", "That's all.", "Just my two cents.", "Otherwise fine."),
    "positive": ("Thanks!", "Thank you.", "Keep it up!", "Will shop again.", "Cheers.", "Great job.", "10/10."),
}
_CONTRAST = {
    "negative": ("But", "That said,", "On the other hand,", "However,"),
    "positive": ("But", "On the plus side,", "That said,", "On the other hand,"),
}
_SIGNATURES = (
    "\n\nSent from my iPhone",
    "\n\nSent from my iPhone",
    "\n\nSent from my Samsung Galaxy smartphone.",
    "\n\nGet Outlook for iOS",
    "\n\nSent from my Android phone",
)
_FIRST_NAMES = (
    "james",
    "mary",
    "john",
    "patricia",
    "robert",
    "jennifer",
    "michael",
    "linda",
    "david",
    "elizabeth",
    "william",
    "susan",
    "maria",
    "karen",
    "daniel",
    "lisa",
    "matthew",
    "nancy",
    "anthony",
    "sandra",
    "mark",
    "ashley",
    "paul",
    "emily",
    "kevin",
    "laura",
    "jason",
    "sarah",
    "omar",
    "priya",
    "wei",
    "lucia",
    "ahmed",
    "sofia",
    "kenji",
    "fatima",
    "lars",
    "ana",
    "tomas",
    "chloe",
)
_LAST_NAMES = (
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "gonzalez",
    "wilson",
    "anderson",
    "thomas",
    "taylor",
    "moore",
    "jackson",
    "martin",
    "lee",
    "perez",
    "thompson",
    "white",
    "harris",
    "clark",
    "lewis",
    "walker",
    "young",
    "allen",
    "khan",
    "patel",
    "nguyen",
    "kim",
    "schmidt",
    "rossi",
    "silva",
    "novak",
    "okafor",
    "tanaka",
)
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
_PII_PHRASES = {
    "email": (
        "You can reach me at {value}.",
        "My email is {value} if you need anything.",
        "Please reply to {value}, not the address on my account.",
        "Contact me: {value}",
        "email me at {value} pls",
    ),
    "phone": (
        "Call me back on {value}.",
        "My number is {value}.",
        "I left my number ({value}) but nobody called.",
        "Text me at {value} when it ships.",
        "Reach me on {value} any time after 5pm.",
    ),
    "card": (
        "I was charged twice on my card {value}.",
        "My card {value} was declined even though it works elsewhere.",
        "Refund it to card {value} please.",
        "I used card number {value} for the order, please check.",
    ),
}
_SLOT = re.compile(r"\{(\w+)\}")
_VOWEL_ARTICLE = re.compile(r"\b([Aa]) (?=[aeiou])")


@dataclass
class SyntheticCompany:
    """A generated company: the two input tables, what was planted, and a config mapping them.

    ``labels`` is hidden truth per feedback row (same order as ``feedback``): the theme and tone the
    generator wrote, which planted effect wrote it, and any data-quality problem planted in the row.
    It is for benchmarks of topics and sentiment and is never written with the demo data.
    """

    customers: pd.DataFrame
    feedback: pd.DataFrame
    truth: dict
    config_toml: str
    labels: pd.DataFrame = field(default_factory=pd.DataFrame)


def generate_company(
    seed: int = 0, *, n_customers: int = 4000, response_rate: float = 0.35, null: bool = False
) -> SyntheticCompany:
    """Generate a synthetic company with planted merge / split / new structure (none when ``null``).

    Args:
        seed: every random draw follows from it; the same seed gives identical frames.
        n_customers: rows in the customer table (about 0.38 feedback rows per customer at the default rate).
        response_rate: overall share of customers who leave feedback this month (At Risk and
            Hibernating answer less, Champions more).
        null: plant nothing: no two segments alike, and nothing inside or across segments beyond
            what the segment explains.

    Returns:
        SyntheticCompany with ``customers``, ``feedback``, ``truth`` (as written to truth.json),
        ``config_toml`` and hidden per-row ``labels``.

    Example:
        >>> company = generate_company(seed=3, n_customers=2000)
        >>> company.truth["new"][0]["rule"]
        'region == "north"'
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise RefineError(f"seed must be a whole number >= 0, got {seed!r}", where="synth")
    if isinstance(n_customers, bool) or not isinstance(n_customers, (int, np.integer)) or n_customers < 200:
        raise RefineError(f"n_customers must be a whole number >= 200, got {n_customers!r}", where="synth")
    if not 0.02 <= float(response_rate) <= 0.9:
        raise RefineError(f"response_rate must be between 0.02 and 0.9, got {response_rate!r}", where="synth")
    seed, n_customers, response_rate = int(seed), int(n_customers), float(response_rate)
    # independent streams: the customer attributes are the same with and without the planted structure
    r_attr, r_outcome, r_feedback, r_text, r_quality = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)
    )
    params = _segment_params(null)

    customers, seg, split_group, new_group = _customers(r_attr, n_customers, params, null)
    satisfaction = _outcomes(r_outcome, customers, seg, params, split_group, new_group)
    comments = _comments(r_feedback, seg, satisfaction, params, split_group, new_group, response_rate)
    feedback, labels, pii, quality = _feedback_table(r_text, r_quality, comments, customers)

    truth = _truth(seed, null, customers, feedback, labels, pii, quality, split_group, new_group)
    return SyntheticCompany(
        customers=customers, feedback=feedback, truth=truth, config_toml=config_toml(seed), labels=labels
    )


def write_demo_data(out_dir: Path, company: SyntheticCompany) -> dict[str, Path]:
    """Write customers.csv, feedback.csv, truth.json and refine.toml into ``out_dir``.

    Returns:
        ``{"customers": ..., "feedback": ..., "truth": ..., "config": ...}`` paths.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "customers": out_dir / "customers.csv",
        "feedback": out_dir / "feedback.csv",
        "truth": out_dir / "truth.json",
        "config": out_dir / "refine.toml",
    }
    company.customers.to_csv(paths["customers"], index=False, encoding="utf-8")
    company.feedback.to_csv(paths["feedback"], index=False, encoding="utf-8")
    paths["truth"].write_text(json.dumps(company.truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["config"].write_text(company.config_toml, encoding="utf-8")
    return paths


def config_toml(seed: int) -> str:
    """The refine.toml that maps the synthetic company's columns."""
    return f"""\
# refine configuration for the synthetic demo company (generated by refine.demo.company, seed {seed}).
# Column names are exactly as in customers.csv and feedback.csv.

[feedback]
id = "resp_id"
customer_id = "Customer ID"
text = "Comment Text"
score = "rating"
score_scale = [0, 10]
score_kind = "nps"
timestamp = "submitted"
source = "channel_src"

[customers]
customer_id = "Customer ID"
segment = "Segment"
outcomes = ["churned_90d", "revenue_12m"]
exclude = ["contact_email"]

[run]
seed = {seed}
"""


# ---- customers ------------------------------------------------------------------------------


def _segment_params(null: bool) -> dict[str, _Segment]:
    params = dict(_BASE)
    if null:
        params["Promising"] = dataclasses.replace(params["Promising"], **_NULL_PROMISING)
    return params


def _counts(shares: np.ndarray, n: int) -> np.ndarray:
    """Split n by shares with the largest-remainder rule, so sizes are exact and unequal."""
    raw = shares / shares.sum() * n
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]] += 1
    return counts


def _customers(rng: np.random.Generator, n: int, params: dict[str, _Segment], null: bool):
    counts = _counts(np.array([params[s].share for s in SEGMENTS]), n)
    seg = rng.permutation(np.repeat(np.arange(len(SEGMENTS)), counts))
    region = np.empty(n, dtype=object)
    plan = np.empty(n, dtype=object)
    channel = np.empty(n, dtype=object)
    tenure = np.empty(n, dtype=np.int64)
    orders = np.empty(n, dtype=np.int64)
    aov = np.empty(n)
    age = np.empty(n, dtype=np.int64)
    newsletter = np.empty(n, dtype=bool)
    for k, name in enumerate(SEGMENTS):
        p = params[name]
        idx = np.flatnonzero(seg == k)
        m = idx.size
        region[idx] = np.asarray(REGIONS, dtype=object)[rng.choice(4, m, p=_norm(p.region))]
        plan[idx] = np.asarray(PLANS, dtype=object)[rng.choice(3, m, p=_norm(p.plan))]
        channel[idx] = np.asarray(CHANNELS, dtype=object)[rng.choice(3, m, p=_norm(p.channel))]
        tenure[idx] = np.clip(np.round(rng.gamma(2.0, p.tenure_months / 2.0, m)) + 1, 1, 180)
        orders[idx] = rng.poisson(p.orders_12m * rng.gamma(4.0, 0.25, m))  # over-dispersed counts
        aov[idx] = np.round(p.avg_order_value * rng.lognormal(0.0, 0.4, m), 2)
        age[idx] = np.clip(np.round(rng.normal(p.age, 12.0, m)), 18, 85)
        newsletter[idx] = rng.random(m) < p.newsletter
    first = rng.integers(len(_FIRST_NAMES), size=n)
    last = rng.integers(len(_LAST_NAMES), size=n)
    emails = pd.Series([f"{_FIRST_NAMES[a]}.{_LAST_NAMES[b]}" for a, b in zip(first, last)])
    dup = emails.groupby(emails).cumcount().to_numpy()
    emails = [f"{e}{d + 1}@example.com" if d else f"{e}@example.com" for e, d in zip(emails, dup)]

    customers = pd.DataFrame(
        {
            "Customer ID": [f"C{i:06d}" for i in range(1, n + 1)],
            "Segment": np.asarray(SEGMENTS, dtype=object)[seg],
            "region": region,
            "Plan": plan,
            "channel": channel,
            "tenure_months": tenure,
            "orders_12m": orders,
            "avg_order_value": aov,
            "age": age,
            "newsletter": newsletter,
            "churned_90d": np.zeros(n, dtype=np.int64),
            "revenue_12m": np.zeros(n),
            "contact_email": emails,
        }
    )
    if null:
        split_group = np.zeros(n, dtype=bool)
        new_group = np.zeros(n, dtype=bool)
    else:
        split_group = (seg == SEGMENTS.index(SPLIT_SEGMENT)) & (channel == SPLIT_VALUE)
        new_group = region == NEW_VALUE
    return customers, seg, split_group, new_group


def _norm(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def _outcomes(rng, customers, seg, params, split_group, new_group) -> np.ndarray:
    """Churn, revenue and the latent satisfaction that drives tone and rating; fills customers in place."""
    n = len(customers)
    churn_p = np.array([params[s].churn for s in SEGMENTS])[seg]
    churn_p = np.clip(churn_p + SPLIT_CHURN_ADD * split_group + NEW_CHURN_ADD * new_group, 0.0, 0.95)
    churned = rng.random(n) < churn_p
    revenue = np.array([params[s].revenue_12m for s in SEGMENTS])[seg] * rng.lognormal(0.0, 0.6, n)
    revenue = np.round(revenue * np.where(churned, 0.75, 1.0), 2)  # churners stopped buying part-way
    customers["churned_90d"] = churned.astype(np.int64)
    customers["revenue_12m"] = revenue
    satisfaction = (
        np.array([params[s].satisfaction for s in SEGMENTS])[seg]
        + SPLIT_SATISFACTION_SHIFT * split_group
        + NEW_SATISFACTION_SHIFT * new_group
        + CHURN_SATISFACTION * churned
        + rng.normal(0.0, 0.8, n)
    )
    return satisfaction


# ---- comments (what each respondent says, before words) -------------------------------------


def _comments(rng, seg, satisfaction, params, split_group, new_group, response_rate) -> dict[str, np.ndarray]:
    n = seg.size
    shares = np.array([params[s].share for s in SEGMENTS])
    propensity = np.array([params[s].response for s in SEGMENTS])
    respond_p = np.clip(response_rate * propensity / (shares @ propensity), 0.0, 0.95)[seg]
    responders = np.flatnonzero(rng.random(n) < respond_p)
    writes_twice = rng.random(responders.size) < SECOND_COMMENT
    who = np.sort(np.concatenate([responders, responders[writes_twice]]))
    m = who.size
    cseg = seg[who]

    weights = np.array([_norm(params[s].themes) for s in SEGMENTS])[cseg]
    theme = _draw(rng, weights)
    planted = np.zeros(m, dtype=object)
    planted[:] = ""
    app, delivery = THEMES.index(SPLIT_THEME), THEMES.index(NEW_THEME)
    u_split, u_new = rng.random(m), rng.random(m)
    # mixture: with probability a, the planted effect writes the comment's main theme
    a_split = (SPLIT_THEME_SHARE - weights[:, app]) / (1.0 - weights[:, app])
    is_split = split_group[who] & (u_split < a_split)
    a_new = NEW_THEME_ADD / (1.0 - weights[:, delivery])
    is_new = new_group[who] & ~is_split & (u_new < a_new)
    theme[is_split], planted[is_split] = app, "split"
    theme[is_new], planted[is_new] = delivery, "new"

    sat = satisfaction[who]
    tone = _tone(rng, sat + _THEME_TONE_BIAS[theme])
    forced = is_split | is_new
    tone[forced] = rng.choice(3, forced.sum(), p=PLANTED_NEGATIVE)

    second_w = weights.copy()
    second_w[np.arange(m), theme] = 0.0
    second_theme = _draw(rng, second_w / second_w.sum(axis=1, keepdims=True))
    second_tone = _tone(rng, sat + _THEME_TONE_BIAS[second_theme])

    # NPS follows the customer's mood and the comment's tone; about 7% of answers disagree with the text
    rating = 7.2 + 1.5 * sat + np.array([-1.8, 0.0, 1.2])[tone] + rng.normal(0.0, 1.2, m)
    disagree = rng.random(m) < 0.07
    rating = np.where(disagree & (tone == 0), rng.integers(8, 11, m), rating)
    rating = np.where(disagree & (tone == 2), rng.integers(2, 6, m), rating)
    rating = np.clip(np.round(rating), 0, 10).astype(np.int64)

    source_p = np.array([[0.50, 0.15, 0.35], [0.70, 0.15, 0.15], [0.70, 0.25, 0.05]])[tone]
    source = _draw(rng, source_p)
    has_rating = rng.random(m) < np.array([0.95, 0.70, 0.15])[source]

    day = rng.integers(0, MONTH_DAYS, m)
    hour = rng.choice(24, m, p=_norm([1, 1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 9, 10, 9, 8, 8, 8, 9, 10, 11, 10, 8, 5, 2]))
    seconds = day * 86400 + hour * 3600 + rng.integers(0, 3600, m)
    return {
        "customer": who,
        "theme": theme,
        "tone": tone,
        "planted": planted,
        "second_theme": second_theme,
        "second_tone": second_tone,
        "rating": rating,
        "has_rating": has_rating,
        "source": source,
        "seconds": seconds,
    }


def _draw(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a probability matrix."""
    cumulative = np.cumsum(probabilities, axis=1)
    u = rng.random(probabilities.shape[0]) * cumulative[:, -1]
    return np.minimum((u[:, None] >= cumulative).sum(axis=1), probabilities.shape[1] - 1)


def _tone(rng: np.random.Generator, mood: np.ndarray) -> np.ndarray:
    """0 negative, 1 neutral / mixed, 2 positive."""
    noisy = mood + rng.normal(0.0, 0.6, mood.size)
    return np.where(noisy < -0.35, 0, np.where(noisy > 0.45, 2, 1))


# ---- feedback table: words, PII, data-quality problems ---------------------------------------


def _feedback_table(r_text, r_quality, comments, customers):
    m = comments["customer"].size
    customer_ids = customers["Customer ID"].to_numpy()
    emails = customers["contact_email"].to_numpy()

    n_pii = int(round(PII_SHARE * m))
    n_each = max(1, int(round(QUALITY_SHARE * m)))
    order = r_quality.permutation(m)
    pii_rows = set(order[:n_pii].tolist())
    blank_rows = order[n_pii : n_pii + n_each]
    unknown_rows = order[n_pii + n_each : n_pii + 2 * n_each]
    dup_rows = order[n_pii + 2 * n_each : n_pii + 3 * n_each]

    texts, pii = [], []
    for i in range(m):
        body, tail = _compose(r_text, comments, i)
        if i in pii_rows:
            kind, value, sentence = _pii(r_text, emails[comments["customer"][i]])
            body = f"{body}{'' if body[-1] in '.!?:' else '.'} {sentence}"
            pii.append({"row": i, "kind": kind, "value": value})
        texts.append(body + tail)

    blank_values = ("", "   ", None)
    for j, i in enumerate(blank_rows):
        texts[i] = blank_values[j % len(blank_values)]
    cust = customer_ids[comments["customer"]].astype(object)
    n_customers = len(customer_ids)
    unknown_ids = n_customers + 1 + r_quality.choice(max(5000, 2 * n_each), size=unknown_rows.size, replace=False)
    cust[unknown_rows] = [f"C{k:06d}" for k in unknown_ids]

    rating = pd.array(np.where(comments["has_rating"], comments["rating"], 0), dtype="Int64")
    rating[~comments["has_rating"]] = pd.NA
    feedback = pd.DataFrame(
        {
            "Customer ID": cust,
            "Comment Text": pd.Series(texts),
            "rating": rating,
            "submitted": MONTH_START + pd.to_timedelta(comments["seconds"], unit="s"),
            "channel_src": np.asarray(SOURCES, dtype=object)[comments["source"]],
        }
    )
    quality = np.full(m, "", dtype=object)
    quality[blank_rows], quality[unknown_rows] = "blank_text", "unknown_customer"
    labels = pd.DataFrame(
        {
            "theme": np.asarray(THEMES, dtype=object)[comments["theme"]],
            "tone": np.asarray(TONES, dtype=object)[comments["tone"]],
            "second_theme": np.asarray(THEMES, dtype=object)[comments["second_theme"]],
            "planted": comments["planted"],
            "quality": quality,
        }
    )
    # an export is in time order; ids follow it. A duplicate submission repeats its row exactly.
    time_order = np.argsort(feedback["submitted"].to_numpy(), kind="stable")
    position = np.empty(m, dtype=np.int64)
    position[time_order] = np.arange(m)
    resp_ids = np.array([f"R{k:06d}" for k in range(1, m + 1)], dtype=object)[position]
    feedback.insert(0, "resp_id", resp_ids)
    labels.insert(0, "resp_id", resp_ids)
    dup_labels = labels.iloc[dup_rows].assign(quality="duplicate_row")
    feedback = pd.concat([feedback, feedback.iloc[dup_rows]], ignore_index=True)
    labels = pd.concat([labels, dup_labels], ignore_index=True)
    final = np.lexsort((np.arange(len(feedback)), feedback["resp_id"].to_numpy()))
    feedback = feedback.iloc[final].reset_index(drop=True)
    labels = labels.iloc[final].reset_index(drop=True)
    for item in pii:
        item["resp_id"] = resp_ids[item.pop("row")]
    pii.sort(key=lambda item: item["resp_id"])
    quality_ids = {
        "blank_text": sorted(resp_ids[blank_rows].tolist()),
        "duplicate_rows": sorted(resp_ids[dup_rows].tolist()),
        "unknown_customer": sorted(resp_ids[unknown_rows].tolist()),
    }
    return feedback, labels, pii, quality_ids


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _fill(rng: np.random.Generator, template: str) -> str:
    text = _SLOT.sub(lambda match: _pick(rng, _SLOTS[match.group(1)]), template)
    text = _VOWEL_ARTICLE.sub(r"\1n ", text)  # "a air fryer" -> "an air fryer"
    return text[0].upper() + text[1:]


def _lower_first(sentence: str) -> str:
    """Lower-case a sentence's first letter unless it starts an acronym or 'I'."""
    if len(sentence) > 1 and sentence[1].islower():
        return sentence[0].lower() + sentence[1:]
    return sentence


def _sentence(rng, theme: int, tone: int, avoid: str | None = None) -> str:
    options = _PHRASES[THEMES[theme]][TONES[tone]]
    template = _pick(rng, options)
    if avoid is not None and template == avoid:
        template = options[(options.index(template) + 1) % len(options)]
    return template


def _compose(rng: np.random.Generator, comments: dict[str, np.ndarray], i: int) -> tuple[str, str]:
    """One comment of 1-3 sentences: the main theme, maybe more on it, maybe a second theme."""
    theme, tone = int(comments["theme"][i]), int(comments["tone"][i])
    first = _sentence(rng, theme, tone)
    sentences = [_fill(rng, first)]
    shape = rng.random()
    if shape < 0.40 or shape >= 0.85:  # say more about the same thing
        sentences.append(_fill(rng, _sentence(rng, theme, tone, avoid=first)))
    if shape >= 0.40:  # and / or mention something else
        other, other_tone = int(comments["second_theme"][i]), int(comments["second_tone"][i])
        sentence = _fill(rng, _sentence(rng, other, other_tone))
        if other_tone != tone and other_tone != 1 and rng.random() < 0.6:
            sentence = f"{_pick(rng, _CONTRAST[TONES[other_tone]])} {_lower_first(sentence)}"
        elif rng.random() < 0.2:
            sentence = f"Also, {_lower_first(sentence)}"
        sentences.append(sentence)
    if len(sentences) < 3 and rng.random() < 0.2:
        sentences.append(_pick(rng, _CLOSERS[TONES[tone]]))
    if rng.random() < 0.12:
        opener, lower_next = _pick(rng, _OPENERS)
        sentences[0] = f"{opener} {_lower_first(sentences[0]) if lower_next else sentences[0]}"
    text = " ".join(sentences)
    text = _roughen(rng, text, tone)
    is_ticket = SOURCES[int(comments["source"][i])] == "ticket"
    tail = _pick(rng, _SIGNATURES) if rng.random() < (0.12 if is_ticket else 0.01) else ""
    return text, tail


def _roughen(rng: np.random.Generator, text: str, tone: int) -> str:
    """The small mess of real typing: exclamation marks, a dropped full stop, lower case, a typo."""
    if text.endswith("."):
        u = rng.random()
        if tone == 0 and u < 0.10:
            text = text[:-1] + "!!"
        elif tone == 2 and u < 0.15:
            text = text[:-1] + "!"
        elif u > 0.90:
            text = text[:-1]
    if rng.random() < 0.06:
        text = text.lower()
    if rng.random() < 0.07:
        words = text.split(" ")
        candidates = [k for k, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
        if candidates:
            k = _pick(rng, candidates)
            w = words[k]
            j = int(rng.integers(1, len(w) - 2))
            kind = rng.random()
            if kind < 0.5:
                words[k] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]  # swapped letters
            elif kind < 0.8:
                words[k] = w[:j] + w[j + 1 :]  # dropped letter
            else:
                words[k] = w[:j] + w[j] + w[j:]  # doubled letter
            text = " ".join(words)
    return text


def _pii(rng: np.random.Generator, own_email: str) -> tuple[str, str, str]:
    """A sentence carrying an email, phone or card number, as customers really type them."""
    u = rng.random()
    if u < 0.45:
        kind = "email"
        if rng.random() < 0.5:
            value = own_email
        else:
            value = (
                f"{_pick(rng, _FIRST_NAMES)}{_pick(rng, ('.', '_', ''))}{_pick(rng, _LAST_NAMES)}"
                f"{int(rng.integers(1, 99)) if rng.random() < 0.4 else ''}@{_pick(rng, _EMAIL_DOMAINS)}"
            )
    elif u < 0.80:
        kind = "phone"
        area = _pick(rng, ("415", "212", "312", "646", "503", "617", "206", "720"))
        line = f"01{int(rng.integers(0, 100)):02d}"  # 555-0100..0199 is reserved for fiction
        value = _pick(
            rng,
            (
                f"+1 {area}-555-{line}",
                f"({area}) 555 {line}",
                f"{area}.555.{line}",
                f"{area}-555-{line}",
                f"+1 ({area}) 555-{line}",
                "+44 20 7946 0958",
            ),
        )
    else:
        kind = "card"
        digits = (
            [4] + [int(d) for d in rng.integers(0, 10, 14)]
            if rng.random() < 0.6
            else [5, int(rng.integers(1, 6))] + [int(d) for d in rng.integers(0, 10, 13)]
        )
        digits.append(_luhn_check_digit(digits))
        raw = "".join(map(str, digits))
        sep = _pick(rng, (" ", " ", "-", ""))
        value = sep.join(raw[k : k + 4] for k in range(0, 16, 4))
    return kind, value, _pick(rng, _PII_PHRASES[kind]).format(value=value)


def _luhn_check_digit(digits: list[int]) -> int:
    total = 0
    for k, d in enumerate(reversed(digits)):
        if k % 2 == 0:  # these positions are doubled once the check digit is appended
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10


# ---- truth ----------------------------------------------------------------------------------


def _truth(seed, null, customers, feedback, labels, pii, quality_ids, split_group, new_group) -> dict:
    sizes = customers["Segment"].value_counts()
    truth: dict = {"seed": seed, "null": null, "merge": [], "split": [], "new": []}
    if not null:
        truth["merge"] = [
            {
                "segments": ["Potential Loyalists", "Promising"],
                "why": "same theme mix, sentiment, churn and revenue parameters",
            }
        ]
        truth["split"] = [
            {
                "segment": SPLIT_SEGMENT,
                "rule": f'Segment == "{SPLIT_SEGMENT}" and {SPLIT_COLUMN} == "{SPLIT_VALUE}"',
                "attribute": SPLIT_COLUMN,
                "theme": SPLIT_THEME,
                "value": SPLIT_VALUE,
                "n_customers": int(split_group.sum()),
                "effect": {
                    "theme_share": SPLIT_THEME_SHARE,
                    "theme_share_rest": 0.08,
                    "churn_add": SPLIT_CHURN_ADD,
                    "satisfaction_shift": SPLIT_SATISFACTION_SHIFT,
                },
            }
        ]
        truth["new"] = [
            {
                "rule": f'{NEW_COLUMN} == "{NEW_VALUE}"',
                "attribute": NEW_COLUMN,
                "theme": NEW_THEME,
                "value": NEW_VALUE,
                "n_customers": int(new_group.sum()),
                "segments": [s for s in SEGMENTS if (new_group & (customers["Segment"] == s)).any()],
                "effect": {
                    "theme_share_add": NEW_THEME_ADD,
                    "churn_add": NEW_CHURN_ADD,
                    "satisfaction_shift": NEW_SATISFACTION_SHIFT,
                },
            }
        ]
    clean = labels["quality"] == ""
    truth.update(
        {
            "segments": {s: int(sizes.get(s, 0)) for s in SEGMENTS},
            "n_customers": len(customers),
            "n_feedback": len(feedback),
            "n_respondents": int(feedback.loc[clean, "Customer ID"].nunique()),
            "themes": dict(THEME_LABELS),
            "quality": {
                "blank_text": len(quality_ids["blank_text"]),
                "duplicate_rows": len(quality_ids["duplicate_rows"]),
                "unknown_customer": len(quality_ids["unknown_customer"]),
                "clean_rows": int(clean.sum()),
                "resp_ids": quality_ids,
            },
            "pii": {
                "rows": len(pii),
                "email": sum(p["kind"] == "email" for p in pii),
                "phone": sum(p["kind"] == "phone" for p in pii),
                "card": sum(p["kind"] == "card" for p in pii),
                "items": pii,
            },
            "reference_month": MONTH_START.strftime("%Y-%m"),
        }
    )
    return truth
