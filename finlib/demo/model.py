"""Parameters of the demo company's generative model (the planted truth lives here).

Everything the generator draws is described by the constants below; the truth file
(:mod:`finlib.demo.truth`) records the ones later analyses must recover.

Calendar
--------
36 months ``t = 0 .. 35``; month ``t`` is the period starting ``first_period + t months``
and ``t = 35`` is the last closed month ``P``.

Customers
---------
A share :data:`LEGACY_SHARE` of the customers signed up before the window (their billing
was migrated on the first day of ``t = 0``); the rest sign up during the window, the number
per month growing by :data:`GROWTH` a month. Segment mix :data:`SEGMENT_MIX`; a customer's
starting MRR is log-normal around :data:`BASE_MRR` of its segment.

Health and churn (the planted churn process)
---------------------------------------------
Each customer has four health components ``k`` (usage, support, sentiment, payment),
scored 0-100 on the first day of every month it starts as a paying customer::

    score_k[c, t] = clip(50 + SEGMENT_HEALTH_SHIFT[seg][k]
                         + 13 * (0.4 * q_c + 0.4 * u_ck + 0.825 * e_ck[t]), 0, 100)

rounded to 0.1, with ``q_c, u_ck ~ N(0, 1)`` persistent and ``e_ck`` an AR(1) with
coefficient 0.6 and unit variance. The composite ``score`` is the
:data:`HEALTH_WEIGHTS`-weighted mean. During month ``t`` a customer that was paying at
the end of ``t - 1`` churns (its last subscription ends inside month ``t``) with
probability::

    p = logistic(CHURN_INTERCEPT + sum_k CHURN_COEFFICIENTS[k] * (score_k - 50) / 10
                 + RETENTION_EFFECT * in_treatment_window)

using the stored (rounded) scores of that month. Coefficients are negative: better
health, less churn.

Expansion, contraction, cross-sell, reactivation
-------------------------------------------------
Natural changes are *additive* in the customer's starting MRR ``b_c`` (so a planted
increment stays exactly additive): expansion with monthly probability
``EXPANSION_P[seg] * exp(0.25 x_usage)`` by ``U(0.08, 0.25) * b_c``; contraction with
``CONTRACTION_P[seg] * exp(-0.25 x_usage)`` by ``U(0.08, 0.2) * b_c`` (never below
``0.3 b_c``). After the add-on product launches, customers cross-sell with probability
:data:`CROSS_SELL_P` and drop it with :data:`ADDON_DROP_P`. Churned customers come back
with probability :data:`REACTIVATION_P` a month between 2 and 24 months after churning.

Feature adoption (the planted effect)
-------------------------------------
Feature ``F`` is released on the first day of month ``R`` (:data:`ADOPTION_RELEASE_T`).
Customers paying at the end of ``R - 1`` and not churning in ``R`` adopt at ``R`` with
probability :data:`ADOPTION_P` of their segment (Enterprise adopts most, and also expands
most: the naive comparison is confounded by segment). An adopter's core subscription row
ends and a new one starts on the first day of ``R`` with MRR higher by exactly
:data:`EFFECT_MRR` (USD), kept until the customer churns; adopters (and only adopters)
use ``F`` every month from ``R``.

Product launch (the planted launch uplift)
------------------------------------------
Product :data:`LAUNCH_PRODUCT` is launched on the first day of month ``L``
(:data:`LAUNCH_T`). Customers paying at the end of ``L - 1`` and not churning in ``L``
take it up at ``L`` with probability :data:`LAUNCH_ADOPTION_P` of their segment (larger
customers adopt more; they also expand most, so comparing adopters with everybody, or with
themselves before the launch, overstates the uplift). An adopter pays exactly
:data:`LAUNCH_PRICE` (USD) a month more from ``L`` (a new subscription of the product,
started on a day inside ``L``) until it churns; nothing else about the customer changes.
The launch is simulated after the company plan (headcount, costs, budgets), so it leaves
every cost line unchanged; the product is built by one of the features and sold by one
launch campaign (their product labels, see :mod:`finlib.demo.costs`).

Survey scores (the planted satisfaction signal)
-----------------------------------------------
The surveyed customer-months (about 7 % NPS, 9 % CSAT of the months a customer starts
paying) are unchanged; a response's score is drawn given whether the customer churns (pays
nothing at some month end) in the response month or the :data:`SURVEY_HORIZON` - 1 months
after it::

    P(score = s | no churn) = P0(s)                 (SURVEY_BASE[kind])
    P(score = s | churn)    = P0(s) exp(b s) / sum_s' P0(s') exp(b s')

with ``b`` = :data:`SURVEY_CHURN_COEFFICIENT` of the kind. By Bayes' rule, for every
population of responses::

    logit P(churn within the horizon | score) = a + b * score       (exactly)

and, as the score depends on nothing else, the same slope holds given segment, size and
tenure. ``b`` is a log-odds per point (negative: happier customers churn less). The
churn process itself is the health-score logit above, untouched: the score *predicts*
churn with a known strength; it does not cause it.

Retention campaign (the planted uplift)
---------------------------------------
On the first day of month ``S`` (:data:`RETENTION_START_T`) every paying customer whose
composite score is below :data:`AT_RISK_SCORE` is randomised 50/50 into treatment and
control; treatment adds :data:`RETENTION_EFFECT` to the churn log-odds for
:data:`RETENTION_WINDOW` months.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finlib.warehouse.schema import CS_TIERS, DEPARTMENTS, SEGMENTS  # noqa: F401 - the schema's values, as M.*

N_MONTHS = 36


@dataclass(frozen=True)
class Scale:
    """Size of a demo company.

    Parameters
    ----------
    name : str
    customers : int
        Rows of ``customers`` (legacy plus signed up in the window).
    features : int
        Features built during the window (three legacy features come on top).
    campaign_lanes : int
        Marketing campaigns running in parallel per channel.
    block : int
        Customers generated and written per chunk (bounds memory).
    usage_interest : float
        Probability that a customer takes up a released feature.
    """

    name: str
    customers: int
    features: int
    campaign_lanes: int
    block: int
    usage_interest: float


SCALES: dict[str, Scale] = {
    "small": Scale("small", 500, 8, 1, 5_000, 0.45),
    "medium": Scale("medium", 5_000, 12, 2, 10_000, 0.5),
    "large": Scale("large", 100_000, 20, 4, 5_000, 0.9),
}

SEGMENT_MIX = np.array([0.62, 0.28, 0.10])
BASE_MRR = np.array([300.0, 1_800.0, 8_000.0])  # USD, median starting MRR
BASE_MRR_SIGMA = 0.35
ANNUAL_P = np.array([0.15, 0.45, 0.75])
SEAT_PRICE = 35.0  # USD per seat and month (seats = MRR / price)

LEGACY_SHARE = 0.35
GROWTH = 0.03  # monthly growth of new signups

REGIONS = ("North America", "EMEA", "APAC", "LATAM")
REGION_P = np.array([0.55, 0.28, 0.12, 0.05])
INDUSTRIES = ("Software", "Financial Services", "Healthcare", "Retail", "Manufacturing",
              "Education", "Media")

# channel name -> (share of new customers, has campaigns)
CHANNELS = ("Paid Search", "Paid Social", "Events", "Content", "Organic", "Referral", "Partner")
CHANNEL_P = np.array([0.22, 0.18, 0.12, 0.13, 0.17, 0.10, 0.08])
CAMPAIGN_CHANNELS = ("Paid Search", "Paid Social", "Events", "Content")
CHANNEL_VENDORS = {
    "Paid Search": ("Google Ads", "Microsoft Advertising"),
    "Paid Social": ("LinkedIn Ads", "Meta Ads"),
    "Events": ("EventWorks Ltd", "Expo Partners"),
    "Content": ("Contently", "Freelance Writers Co"),
}

# ---- health and churn (planted) ------------------------------------------------------
HEALTH_COMPONENTS = ("usage_score", "support_score", "sentiment_score", "payment_score")
HEALTH_WEIGHTS = np.array([0.35, 0.20, 0.25, 0.20])
SEGMENT_HEALTH_SHIFT = np.array([  # rows: SMB, Mid-Market, Enterprise
    [-4.0, 0.0, -2.0, -3.0],
    [0.0, 0.0, 0.0, 0.0],
    [6.0, 2.0, 3.0, 4.0],
])
HEALTH_AR = 0.6
CHURN_INTERCEPT = -4.4
CHURN_COEFFICIENTS = np.array([-1.00, -0.50, -0.70, -0.60])

# ---- expansion / contraction ---------------------------------------------------------
EXPANSION_P = np.array([0.012, 0.022, 0.035])
CONTRACTION_P = np.array([0.008, 0.008, 0.006])
ADDON_PRICE = np.array([80.0, 400.0, 1_500.0])
CROSS_SELL_P = 0.025
ADDON_DROP_P = 0.01
REACTIVATION_P = 0.015
ADDON_LAUNCH_T = 14

# ---- adoption (planted) --------------------------------------------------------------
ADOPTION_RELEASE_T = 22
ADOPTION_P = np.array([0.20, 0.40, 0.65])
EFFECT_MRR = 250.00  # USD per adopting customer and month

# ---- product launch (planted) --------------------------------------------------------
LAUNCH_T = 28
LAUNCH_PRODUCT = ("P3", "Planning Add-on")
LAUNCH_ADOPTION_P = np.array([0.06, 0.22, 0.50])  # SMB, Mid-Market, Enterprise
LAUNCH_PRICE = 150.00  # USD per adopting customer and month

# ---- survey scores (planted) ----------------------------------------------------------
SURVEY_HORIZON = 12  # months: the response month and the 11 after it
SURVEY_CHURN_COEFFICIENT = {"nps": -0.30, "csat": -0.70}  # churn log-odds per point
SURVEY_SCALE = {"nps": (0, 10), "csat": (1, 5)}
SURVEY_BASE = {  # P0(score) of customers who stay (relative weights, lowest score first)
    "nps": np.array([1.0, 1.0, 1.5, 2.0, 2.5, 4.0, 6.0, 10.0, 14.0, 13.0, 9.0]),
    "csat": np.array([2.0, 4.0, 12.0, 24.0, 18.0]),
}

# ---- retention campaign (planted) ----------------------------------------------------
RETENTION_START_T = 24
RETENTION_WINDOW = 6
RETENTION_EFFECT = -3.0  # added to the monthly churn log-odds while treated
AT_RISK_SCORE = 58.0
PILOT_START_T = 12  # a second, null-effect campaign (Enterprise QBR pilot)

# ---- departments and chart of accounts -----------------------------------------------
# the demo's department ids: D10 Sales, D20 Marketing, D30 Product, D40 Customer Success, D50 G&A
DEPARTMENT_IDS = {name: f"D{10 * (i + 1)}" for i, name in enumerate(DEPARTMENTS)}
ACCOUNTS = (
    ("4000", "Subscription revenue - Core Platform", "revenue", "subscription"),
    ("4010", "Subscription revenue - Analytics Add-on", "revenue", "subscription"),
    ("4020", "Subscription revenue - Planning Add-on", "revenue", "subscription"),
    ("5000", "Hosting and infrastructure", "cogs", "hosting"),
    ("6000", "Salaries and wages", "opex", "salaries"),
    ("6100", "Software subscriptions", "opex", "software"),
    ("6200", "Advertising", "opex", "advertising"),
    ("6300", "Contractors", "opex", "contractors"),
    ("6400", "Travel and entertainment", "opex", "travel"),
    ("6500", "Rent and facilities", "opex", "rent"),
    ("6510", "Rent - Berlin office", "opex", "rent"),
    ("6600", "Professional fees", "opex", "professional_fees"),
    ("6610", "Legal fees - UK", "opex", "professional_fees"),
)
REVENUE_DEPARTMENT = "D10"  # revenue is posted to Sales (account_type 'revenue')
EMPLOYEES_PER_MUSD_ARR = {"D10": 1.3, "D20": 0.6, "D30": 1.6, "D40": 0.8, "D50": 0.5}
MONTHLY_SALARY = {"D10": 7_500.0, "D20": 8_000.0, "D30": 12_000.0, "D40": 6_500.0, "D50": 9_000.0}
SOFTWARE_VENDORS = {
    "D10": ("Salesforce", "Gong", "ZoomInfo"),
    "D20": ("HubSpot", "Canva", "Semrush"),
    "D30": ("GitHub", "Atlassian", "Figma"),
    "D40": ("Zendesk", "Gainsight", "Intercom"),
    "D50": ("NetSuite", "Workday", "Slack"),
}
FX_CURRENCIES = (("EUR", 1.08), ("GBP", 1.27))

TEAMS = ("Platform", "Growth", "Data", "Integrations")
FEATURE_NAMES = (
    "SSO and SCIM", "Audit log export", "Workflow Automation", "Custom dashboards",
    "Salesforce sync", "Usage-based alerts", "Mobile app", "Data warehouse connector",
    "Role-based access", "AI summaries", "Bulk import", "Public API v2", "Slack integration",
    "Forecasting module", "Sandbox environments", "Data residency (EU)", "Approval flows",
    "Scheduled reports", "Embedded analytics", "HubSpot sync", "Webhooks v2", "Offline mode",
    "Templates gallery",
)
LEGACY_FEATURE_NAMES = ("Core reporting", "Team workspaces", "CSV export")

FINANCE_STAFF = ("a.fischer", "b.okafor", "c.lindqvist", "d.moreau")
