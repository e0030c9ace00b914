import pandas as pd
import pytest

from refine.errors import RefineError
from refine.segments.rules import apply_rule, condition, conjunction, parse_rule


@pytest.fixture
def customers():
    return pd.DataFrame(
        {
            "Tier Name": ["Gold", "Silver", "Gold", "Bronze"],
            "age": [30, 50, 45, 22],
            "region": ["west", "east", "west", "north"],
            "vip": [True, False, True, False],
            "spend": [10.5, 200.0, 55.0, None],
        }
    )


@pytest.mark.parametrize(
    "rule, expected",
    [
        ('`Tier Name` == "Gold" and age >= 40', [False, False, True, False]),
        ('30 <= age < 50 and region in ["west"]', [True, False, True, False]),
        ("not vip or age == 50", [False, True, False, True]),
        ('region not in ["west", "east"]', [False, False, False, True]),
        ("spend > 50", [False, True, True, False]),
        ("age != -1", [True, True, True, True]),
    ],
)
def test_rules_select_the_right_customers(customers, rule, expected):
    assert apply_rule(customers, rule).tolist() == expected


def test_rule_matches_pandas_query(customers):
    rule = '`Tier Name` == "Gold" and (age >= 40 or region == "west")'
    assert apply_rule(customers, rule).tolist() == customers.eval(rule).tolist()


@pytest.mark.parametrize(
    "rule, fragment",
    [
        ('__import__("os").system("touch /tmp/pwned")', "function call"),
        ("region.str.len() > 3", "function call"),
        ("df.age == 1", "attribute access"),
        ("@secret == 1", "'@' local variables"),
        ("age + 1 > 2", "arithmetic"),
        ("age[0] == 1", "subscripting"),
        ("(lambda: 1)() == 1", "function call"),
        ("age ==", "not a valid expression"),
        ("", "non-empty"),
    ],
)
def test_unsafe_or_broken_rules_are_refused(rule, fragment):
    with pytest.raises(RefineError) as err:
        parse_rule(rule)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_rule_on_unknown_or_banned_column(customers):
    with pytest.raises(RefineError, match="does not have"):
        apply_rule(customers, "height > 3")
    with pytest.raises(RefineError, match="may not be used"):
        apply_rule(customers, "spend > 3", allowed_columns=["age"])


def test_building_rules_round_trips(customers):
    rule = conjunction(
        condition("Tier Name", "==", "Gold"), condition("age", ">=", 40.0), condition("region", "in", ["west", "north"])
    )
    assert rule == '`Tier Name` == "Gold" and age >= 40 and region in ["west", "north"]'
    assert apply_rule(customers, rule).tolist() == [False, False, True, False]


# ---- rule literals round trip: what the writer escapes, the parser reads back (issue 28, point 7) ----

AWKWARD_VALUES = [
    "a`b",
    "`x` and `y`",
    'He said "hi"',
    "it's",
    "both ' and \"",
    "two\nlines",
    "tab\there \\ backslash",
    "Ünïcödé € 日本",
    "@home",
    '") or True or ("',
]
AWKWARD_COLUMNS = ["Uses `App`", "Tier Name", "Größe", "ﬁle", "new\nline", 'it\'s "quoted"', "plain", "`"]


@pytest.mark.parametrize("column", AWKWARD_COLUMNS)
def test_awkward_column_names_and_values_round_trip(column):
    customers = pd.DataFrame({column: AWKWARD_VALUES + ["other"], "n": range(len(AWKWARD_VALUES) + 1)})
    for value in AWKWARD_VALUES:
        rule = condition(column, "==", value)
        parsed = parse_rule(rule)
        assert parsed.columns == (column,), rule
        assert customers.loc[parsed.mask(customers), column].tolist() == [value], rule
    # several literals with backticks and quotes in one rule (an in-list, and a conjunction with another column)
    listed = condition(column, "in", AWKWARD_VALUES[:4])
    assert apply_rule(customers, listed).sum() == 4
    both = conjunction(condition(column, "!=", "a`b"), condition("n", ">=", 1), condition(column, "==", "`x` and `y`"))
    assert parse_rule(both).columns == (column, "n")
    assert customers.loc[apply_rule(customers, both), "n"].tolist() == [1]


def test_backticked_names_and_strings_are_read_apart():
    customers = pd.DataFrame({"a`b": ["x`y", "z"], "c": ["`a`b`", "q"]})
    assert apply_rule(customers, "`a``b` == \"x`y\" and c == '`a`b`'").tolist() == [True, False]
    with pytest.raises(RefineError, match="no closing backtick"):
        parse_rule("`Tier Name == 'Gold'")
    with pytest.raises(RefineError, match="'@' local"):
        parse_rule("tier == @gold")
    assert parse_rule('tier == "@gold"').columns == ("tier",)
