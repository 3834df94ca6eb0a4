"""train_purchase_model's options of issue 22 item 5 against scikit-learn and statsmodels.

On 8,000 rows of test_training's generator (same raw formats, same split):
* fit_intercept (default true): the L1 fit equals liblinear's `fit_intercept=True` (its
  intercept a penalised column of ones) within 1e-6, coefficients and intercept; the refit equals
  statsmodels' Logit with a constant within 1e-6 (coefficients, intercept, standard errors).
* class_weight ('balanced' and a dict, with and without intercept): the L1 fit equals liblinear
  with that class_weight, the refit scikit-learn's unpenalised LogisticRegression with it.
* "l1_c": "cv": the grid, the fold losses and the chosen C are reported, and the chosen C is the
  grid's smallest mean held-out log loss.
* a column that looks like a key (unique integers) is named in a NOTICE whose hint names
  options.exclude.
"""

import json

import numpy as np
import psycopg
import pytest
import sklearn
import statsmodels.api as sm
from sklearn.linear_model import LogisticRegression
from test_training import create_table, design, generate

DB = "pg_purchase_training_options"
ROWS = 8000
TOL = 1e-6


def sklearn_version():
    return tuple(int(p) for p in sklearn.__version__.split(".")[:2])


def liblinear_l1(fit_intercept, class_weight=None):
    kw = dict(solver="liblinear", fit_intercept=fit_intercept, tol=1e-10, C=1.0, class_weight=class_weight)
    if sklearn_version() >= (1, 8):
        return LogisticRegression(l1_ratio=1, **kw)
    return LogisticRegression(penalty="l1", **kw)


def unpenalised(fit_intercept, class_weight):
    kw = dict(
        solver="newton-cholesky", fit_intercept=fit_intercept, tol=1e-12, max_iter=1000, class_weight=class_weight
    )
    if sklearn_version() >= (1, 8):
        return LogisticRegression(C=np.inf, **kw)
    return LogisticRegression(penalty=None, **kw)


@pytest.fixture(scope="module")
def data(fresh_database):
    fresh_database(DB)
    cols, y, validation = generate(ROWS, seed=29)
    with psycopg.connect(dbname=DB, autocommit=True) as conn:
        create_table(conn, "options_train", cols, y, validation)
    train = ~validation
    names, x = design(cols, train)
    return {"cols": cols, "y": y, "train": train, "names": names, "x": x}


def train_in_db(options, name):
    """(version, artifact, metrics, notices) of a training with `options`."""
    notices = []
    with psycopg.connect(dbname=DB, autocommit=True) as conn:
        # A Diagnostic is valid only inside the handler: keep its texts.
        conn.add_notice_handler(lambda d: notices.append((d.message_primary or "", d.message_hint)))
        version = conn.execute(
            "SELECT train_purchase_model('options_train', 'y', %s, %s::jsonb)", (name, json.dumps(options))
        ).fetchone()[0]
        artifact = conn.execute("SELECT export_purchase_model(%s, %s)", (name, version)).fetchone()[0]
        metrics = conn.execute(
            "SELECT metrics FROM purchase_models() WHERE name = %s AND version = %s", (name, version)
        ).fetchone()[0]
    return version, artifact, metrics, notices


BASE = {"exclude": ["id"], "validation_column": "is_validation", "top_k": 12}


def check_l1(data, metrics, fit_intercept, class_weight):
    x, y, train, names = data["x"], data["y"], data["train"], data["names"]
    l1 = liblinear_l1(fit_intercept, class_weight).fit(x[train], y[train])
    ranking = {r["feature"]: r["l1_coefficient"] for r in metrics["ranking"]}
    got = [ranking.get(name, 0.0) for name in names]
    np.testing.assert_allclose(got, l1.coef_[0], rtol=0, atol=TOL)
    if fit_intercept:
        np.testing.assert_allclose(metrics["l1_intercept"], l1.intercept_[0], rtol=0, atol=TOL)
    else:
        assert metrics["l1_intercept"] is None
    w = l1.coef_[0]
    order = sorted(range(len(names)), key=lambda j: -(w[j] ** 2))
    return [j for j in order if w[j] != 0][:12]


@pytest.mark.parametrize(
    ("fit_intercept", "class_weight"),
    [(True, None), (False, None), (True, "balanced"), (False, {"0": 1, "1": 3}), (True, {"1": 0.5})],
)
def test_fit_intercept_and_class_weight_equal_scikit_learn(data, fit_intercept, class_weight):
    options = dict(BASE)
    if not fit_intercept:
        options["fit_intercept"] = False
    if class_weight is not None:
        options["class_weight"] = class_weight
    _, artifact, metrics, _ = train_in_db(options, "opt")
    sk_weight = class_weight if not isinstance(class_weight, dict) else {int(k): v for k, v in class_weight.items()}
    top = check_l1(data, metrics, fit_intercept, sk_weight)
    names, x, y, train = data["names"], data["x"], data["y"], data["train"]
    assert artifact["model"]["features"] == [names[j] for j in top]
    assert metrics["fit_intercept"] is fit_intercept
    xs = x[train][:, top]
    coefficients = artifact["model"]["coefficients"]
    if class_weight is None:
        exog = sm.add_constant(xs, prepend=False) if fit_intercept else xs
        logit = sm.Logit(y[train], exog).fit(method="newton", tol=1e-12, maxiter=100, disp=0)
        params, bse = np.asarray(logit.params), np.asarray(logit.bse)
        if fit_intercept:
            np.testing.assert_allclose(artifact["model"]["intercept"], params[-1], rtol=0, atol=TOL)
            np.testing.assert_allclose(metrics["intercept_std_error"], bse[-1], rtol=0, atol=TOL)
            params, bse = params[:-1], bse[:-1]
        np.testing.assert_allclose(coefficients, params, rtol=0, atol=TOL)
        np.testing.assert_allclose(artifact["model"]["std_errors"], bse, rtol=0, atol=TOL)
        np.testing.assert_allclose(metrics["log_likelihood"], logit.llf, rtol=0, atol=TOL)
    else:
        ref = unpenalised(fit_intercept, sk_weight).fit(xs, y[train])
        np.testing.assert_allclose(coefficients, ref.coef_[0], rtol=0, atol=TOL)
        np.testing.assert_allclose(
            artifact["model"]["intercept"], ref.intercept_[0] if fit_intercept else 0.0, atol=TOL
        )
    if not fit_intercept:
        assert artifact["model"]["intercept"] == 0.0


def test_l1_c_by_cross_validation_is_reported(data):
    _, artifact, metrics, notices = train_in_db({**BASE, "l1_c": "cv"}, "cv")
    cv = metrics["l1_c_cv"]
    assert cv["folds"] == 5
    grid = [g["l1_c"] for g in cv["grid"]]
    np.testing.assert_allclose(grid, np.logspace(-3, 2, 11), rtol=1e-12)
    losses = [g["mean_log_loss"] for g in cv["grid"]]
    assert all(loss is not None and 0 < loss < 1 for loss in losses), losses
    assert cv["chosen"] == grid[int(np.argmin(losses))]
    assert metrics["l1_c"] == cv["chosen"]
    assert artifact["training"]["options"]["l1_c"] == "cv"
    assert any("chosen by 5-fold cross-validation" in message for message, _ in notices)


def test_a_key_column_is_named_in_a_notice(data):
    options = {k: v for k, v in BASE.items() if k != "exclude"}
    _, artifact, _, notices = train_in_db(options, "keyed")
    keys = [n for n in notices if "looks like a key" in n[0]]
    assert len(keys) == 1, notices
    assert '"id"' in keys[0][0]
    assert keys[0][1] == 'Leave it out with options.exclude, e.g. \'{"exclude": ["id"]}\'.'
    _, _, _, clean = train_in_db(BASE, "keyed")
    assert not any("looks like a key" in message for message, _ in clean)


def test_bad_training_options_name_the_option(data):
    with psycopg.connect(dbname=DB, autocommit=True) as conn:
        for options, message in [
            ({"class_weight": "even"}, 'option "class_weight" is "even"'),
            ({"class_weight": {"2": 1}}, 'option "class_weight" names class "2"'),
            ({"l1_c": "auto"}, 'option "l1_c" is "auto"'),
            ({"fit_intercept": "yes"}, 'option "fit_intercept" is invalid'),
        ]:
            with pytest.raises(psycopg.errors.InvalidParameterValue) as e:
                conn.execute(
                    "SELECT train_purchase_model('options_train', 'y', 'bad', %s::jsonb)", (json.dumps(options),)
                )
            assert str(e.value).startswith(message), str(e.value)
