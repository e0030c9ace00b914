import pytest

from refine.errors import RefineError
from refine.io.config import CONFIG_TEMPLATE, config_from_dict, load_config


def test_template_loads_with_documented_defaults(tmp_path):
    path = tmp_path / "refine.toml"
    path.write_text(CONFIG_TEMPLATE)
    config = load_config(path)
    assert config.feedback.customer_id == "Member No"
    assert config.customers.segment == "Tier Name"
    assert config.proposals.alpha == 0.05
    assert config.model.embedding == "default"


def test_unknown_key_is_one_line_error_naming_it(tmp_path):
    path = tmp_path / "refine.toml"
    path.write_text(
        '[feedback]\ncustomer_id = "id"\ntext = "t"\ntxet = "x"\n[customers]\ncustomer_id="id"\nsegment="s"\n'
    )
    with pytest.raises(RefineError) as err:
        load_config(path)
    message = str(err.value)
    assert "txet" in message and str(path) in message and "\n" not in message


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ({"nonsense": {}}, "unknown section [nonsense]"),
        ({"proposals": {"alpha": "high"}}, "alpha must be a number"),
        ({"feedback": {"score_scale": [5, 1]}}, "score_scale must be a [low, high] pair"),
        ({"customers": {"outcomes": ["x"], "exclude": ["x"]}}, "both an outcome and excluded"),
        ({"proposals": {"holdout_fraction": 0.99}}, "holdout_fraction"),
    ],
)
def test_bad_values_are_refused(raw, fragment):
    with pytest.raises(RefineError, match=None) as err:
        config_from_dict(raw, where="x.toml")
    assert fragment in str(err.value)


def test_missing_required_column_key(tmp_path):
    path = tmp_path / "refine.toml"
    path.write_text('[feedback]\ntext = "t"\n')
    with pytest.raises(RefineError, match=r"\[feedback\] customer_id is required"):
        load_config(path)


def test_not_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[feedback\n")
    with pytest.raises(RefineError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(RefineError, match="config file not found"):
        load_config(tmp_path / "absent.toml")


def test_overrides_apply(tmp_path):
    path = tmp_path / "refine.toml"
    path.write_text(CONFIG_TEMPLATE)
    assert load_config(path, overrides={"run": {"seed": 7}}).run.seed == 7
    assert load_config(path, overrides={"run": {"seed": None}}).run.seed == 0


def test_template_sets_every_key_to_its_default(tmp_path):
    """The template documents every setting with its real default, [limits] included (no stale notes)."""
    import tomllib

    from refine.io.config import SECTIONS, RefineConfig

    parsed = tomllib.loads(CONFIG_TEMPLATE)
    defaults = RefineConfig()
    required = {
        ("feedback", "customer_id"),
        ("feedback", "text"),
        ("customers", "customer_id"),
        ("customers", "segment"),
    }
    for section, values in parsed.items():
        assert section in SECTIONS
        for key, value in values.items():
            if (section, key) not in required:
                assert getattr(getattr(defaults, section), key) == value, f"[{section}] {key}"
    assert set(parsed["limits"]) == set(SECTIONS["limits"].__dataclass_fields__)


def test_run_quiet_is_deprecated_not_an_error(tmp_path):
    """[run] quiet was never read: an old file (or an old run's run.json) that sets it loads with a warning."""
    path = tmp_path / "refine.toml"
    path.write_text(CONFIG_TEMPLATE.replace("[run]\n", "[run]\nquiet = true\n"))
    with pytest.warns(FutureWarning, match=r"\[run\] quiet is no longer used"):
        config = load_config(path)
    assert not hasattr(config.run, "quiet")
    assert "quiet" not in config.to_dict()["run"]


def test_an_old_run_json_config_loads_without_warning(recwarn):
    """refine.io.runs.load_run rebuilds the config of runs written when [run] quiet existed."""
    import warnings

    from refine.io.runs import _config_of_run

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = _config_of_run({"run": {"seed": 3, "quiet": False}}, "run.json")
    assert config.run.seed == 3


def test_a_relative_model_folder_is_found_beside_the_config_file(tmp_path, monkeypatch):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "review-model").mkdir(parents=True)
    (project / "my-head").mkdir()
    elsewhere.mkdir()
    path = project / "refine.toml"
    path.write_text(
        '[feedback]\ncustomer_id = "id"\ntext = "t"\n[customers]\ncustomer_id = "id"\nsegment = "s"\n'
        '[model]\nreview = "review-model"\nsentiment = "transformers:my-head"\n'
        'embedding = "sentence-transformers/all-MiniLM-L6-v2"\n'
    )
    monkeypatch.chdir(elsewhere)
    model = load_config(path).model
    assert model.review == str((project / "review-model").resolve())
    assert model.sentiment == "transformers:" + str((project / "my-head").resolve())
    assert model.embedding == "sentence-transformers/all-MiniLM-L6-v2"  # a model id, not a folder: as given
    assert model.multilingual == "default"
    # a config named by a relative path: the folder is written absolute (run.json and cache keys name one place)
    monkeypatch.chdir(tmp_path)
    assert load_config("project/refine.toml").model.review == str((project / "review-model").resolve())
    # the working folder keeps priority, so a run that worked before reads the same folder
    monkeypatch.chdir(elsewhere)
    (elsewhere / "review-model").mkdir()
    assert load_config(path).model.review == "review-model"
