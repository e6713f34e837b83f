"""Hostile input: credentials never leave gpuslice in an error, deep nesting is refused at once, and ruamel's
warnings are said in the user's terms."""

from __future__ import annotations

import pytest

from gpuslice.errors import SpecError
from gpuslice.redact import MASK, redact, redact_tree
from gpuslice.yamlio import MAX_DEPTH, nesting_depth, parse_yaml_text
from tests.helpers import MINIMAL, write_spec
from tests.test_apply import CHART

TOKEN = "tok-PLANTED-7f3a9c"
OTHER = "tok-PLANTED-second-41d2"


@pytest.mark.parametrize(
    "text",
    [
        f"token: {TOKEN}",
        f'{{"token": "{TOKEN}", "x": 1}}',
        f"client-key-data: {TOKEN}",
        f"password={TOKEN} and more",
        f'"auth":"{TOKEN}"',
        f"Authorization: Bearer {TOKEN}",
        f"id-token: {TOKEN}",
        f"-----BEGIN RSA PRIVATE KEY-----\n{TOKEN}\n-----END RSA PRIVATE KEY-----",
        f'found duplicate key "anything" with value "{TOKEN}" (original value: "{OTHER}")',
        f"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ{TOKEN}.c2ln",
        f"Error: failed to fetch https://admin:{TOKEN}@charts.corp.example/index.yaml",
    ],
)
def test_redact_masks_credentials(text):
    out = redact(text)
    assert TOKEN not in out and OTHER not in out
    assert MASK in out or "duplicate key" in out


def test_redact_keeps_ordinary_text():
    for text in (
        "registry.pullSecrets: [corp-registry]",
        "f.yaml:3:5: users[0].user.token: unknown field",
        "nodePools[0].sharing.replicas: must be >= 2",
        "/etc/passwd: not a chart archive (not gzip-compressed)",
        "charts/secret: no such chart folder or .tgz",
        "token.yaml: file not found",  # a file name, not a key
        "my-token-chart.tgz: not a chart archive",
    ):
        assert redact(text) == text


def test_redact_tree_masks_values_of_sensitive_keys():
    got = redact_tree({"user": {"token": TOKEN, "name": "u"}, "data": {".dockerconfigjson": TOKEN}})
    assert got == {"user": {"token": MASK, "name": "u"}, "data": {".dockerconfigjson": MASK}}


def _kubeconfig_with_duplicate_token(tmp_path):
    p = tmp_path / "kubeconfig"
    p.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\n"
        "contexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n"
        f"users:\n- name: u\n  user:\n    token: {TOKEN}\n    token: {OTHER}\n",
        encoding="utf-8",
    )
    return p


@pytest.mark.parametrize(
    "verb",
    [
        ("snapshot", "-d", "{tmp}/out"),
        ("doctor",),
        ("verify", "{spec}"),
        ("apply", "{spec}", "--dry-run", "--chart", "{chart}"),
    ],
)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_duplicate_token_in_kubeconfig_is_never_printed(cli, tmp_path, verb, fmt):
    kc = _kubeconfig_with_duplicate_token(tmp_path)
    spec = write_spec(tmp_path, MINIMAL)
    args = [a.format(tmp=tmp_path, spec=spec, chart=CHART) for a in verb]
    r = cli(*args, "--kubeconfig", str(kc), *(["-o", "json"] if fmt == "json" and verb[0] != "snapshot" else []))
    assert r.exit_code == 2
    both = r.stdout + r.stderr
    assert "duplicate key" in both and "token" in both and str(kc) in both
    assert TOKEN not in both and OTHER not in both


def test_duplicate_secret_in_spec_is_never_printed(cli, tmp_path):
    spec = write_spec(tmp_path, MINIMAL + f"registry:\n  password: {TOKEN}\n  password: {OTHER}\n")
    for verb in ("check", "plan", "render"):
        extra = ["-d", str(tmp_path / f"out-{verb}")] if verb != "check" else []
        r = cli(verb, str(spec), *extra, "-o", "json")
        assert r.exit_code == 2
        assert TOKEN not in r.stdout + r.stderr and OTHER not in r.stdout + r.stderr
        assert "duplicate key" in r.stdout


# -- nesting ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 5000 + "]" * 5000,
        "a: " + "{x: " * 3000 + "1" + "}" * 3000,
        "".join(" " * i + "k:\n" for i in range(300)) + " " * 300 + "v: 1\n",
        "- " * 3000 + "x\n",
    ],
    ids=["flow-seq", "flow-map", "block", "dash"],
)
def test_deep_nesting_is_refused_before_parsing(text):
    with pytest.raises(SpecError) as e:
        parse_yaml_text(text, "deep.yaml")
    p = e.value.problems[0]
    assert p.file == "deep.yaml" and p.line is not None
    assert f"nested more than {MAX_DEPTH} levels" in p.message


def test_nesting_depth_counts_real_documents_low():
    text = MINIMAL + "x: {a: [1, '[[[[', \"{{{{\"], b: {c: [d]}}  # [[[[ in a comment\n"
    depth, _ = nesting_depth(text)
    assert depth < 10
    assert parse_yaml_text(text)[0].data["x"]["a"][1] == "[[[["


def test_deep_spec_and_config_through_the_cli(cli, tmp_path):
    spec = write_spec(tmp_path, MINIMAL + "extra: " + "[" * 4000 + "]" * 4000 + "\n")
    r = cli("check", str(spec))
    assert r.exit_code == 2 and "nested more than" in r.stderr and str(spec) in r.stderr
    cfg = tmp_path / "config.yaml"
    cfg.write_text("version: v1\nsharing:\n  timeSlicing:\n    resources: " + "[" * 4000 + "]" * 4000 + "\n")
    r = cli("lint-config", str(cfg))
    assert r.exit_code == 2 and "nested more than" in r.stderr and f"{cfg}:4" in r.stderr


def test_reused_anchor_is_a_warning_in_the_users_terms(capsys):
    docs = parse_yaml_text("a: &x 1\nb: &x 2\nc: *x\n", "f.yaml")
    assert docs[0].data == {"a": 1, "b": 2, "c": 2}
    err = capsys.readouterr().err
    assert "f.yaml:2: warning: anchor &x is defined again (first on line 1)" in err
    assert "ReusedAnchorWarning" not in err and "ruamel" not in err and ".py" not in err


def test_a_chart_name_too_long_for_the_file_system_is_a_clear_error(cli, tmp_path):
    spec = write_spec(tmp_path, MINIMAL + "operator:\n  chart: " + "x" * 5000 + "\n")
    r = cli("plan", str(spec), "-d", str(tmp_path / "out"))
    assert r.exit_code == 2 and "internal error" not in r.stderr
    assert "operator.chart" in r.stderr and "File name too long" in r.stderr
    r = cli("plan", str(spec), "--chart", "y" * 5000, "-d", str(tmp_path / "out"))
    assert r.exit_code == 2 and "internal error" not in r.stderr and "File name too long" in r.stderr
    assert not (tmp_path / "out").exists()


def test_a_file_read_twice_is_parsed_once_and_each_caller_gets_its_own_copy(tmp_path, monkeypatch):
    from gpuslice import yamlio

    p = tmp_path / "a.yaml"
    p.write_text("a: {b: 1}\n", encoding="utf-8")
    calls = []
    real = yamlio.parse_yaml_text
    monkeypatch.setattr(yamlio, "parse_yaml_text", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = yamlio.load_yaml_file(p)[0]
    first.data["a"]["b"] = 99
    second = yamlio.load_yaml_file(p)[0]
    assert second.data == {"a": {"b": 1}} and len(calls) == 1
    assert second.position(["a", "b"])[0] == 1
    p.write_text("a: {b: 2}\n", encoding="utf-8")  # changed: parsed again
    assert yamlio.load_yaml_file(p)[0].data == {"a": {"b": 2}} and len(calls) == 2
