"""The Helm chart, rendered by the real ``helm`` binary (``make deps`` builds the pinned version
from its Go module; ``DAEMONS_HELM`` names it), checked offline: core objects against the
Kubernetes schemas (kubernetes-validate, strict), KEDA and Strimzi resources against their CRD
schemas vendored in ``deploy/crd-schemas/``, and every invariant of docs/deploy.md."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from processors.daemons import registry
from processors.kafka.clients import consumer_config
from processors.runtime.timing import Timings
from processors.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "process-daemons"
CRDS = ROOT / "deploy" / "crd-schemas"
KUBERNETES = "1.33.0"  # native sidecars are GA here (Chart.yaml: >= 1.29, beta there)
GENERATED = json.loads((CHART / "files" / "generated.json").read_text(encoding="utf-8"))
CORE_KINDS = {"Deployment", "PodDisruptionBudget", "ConfigMap", "Secret"}
SECRETISH = ("KEY", "PASSWORD", "SECRET", "TOKEN", "WEBHOOK", "AUTH", "CREDENTIAL")

Resource = dict[str, Any]


@cache
def helm() -> str:
    """``$DAEMONS_HELM`` (the Makefile's), else the one ``make deps`` built into the cache,
    else ``helm`` on the PATH. Never skipped: a missing helm fails the chart's tests."""
    cache_dir = Path(os.environ.get("DAEMONS_CACHE_DIR", Path.home() / ".cache/process-daemons"))
    built = sorted((cache_dir / "bin").glob("helm-v*"))
    found = os.environ.get("DAEMONS_HELM") or (str(built[-1]) if built else shutil.which("helm"))
    if not found:
        pytest.fail("no helm binary: `make deps` builds it (DAEMONS_HELM names it)")
    return found


def render(*sets: str) -> list[Resource]:
    args = [helm(), "template", "pd", str(CHART), "--namespace", "daemons"]
    for item in sets:
        args += ["--set", item]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RenderFailed(done.stderr)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


class RenderFailed(Exception):
    pass


@pytest.fixture(scope="module")
def default() -> list[Resource]:
    return render()


def of_kind(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def component(resources: list[Resource], kind: str) -> dict[str, Resource]:
    """Objects of one kind by the daemon they belong to (app.kubernetes.io/component)."""
    return {
        r["metadata"]["labels"]["app.kubernetes.io/component"]: r
        for r in resources
        if r["kind"] == kind and not r["metadata"]["name"].endswith("-scaler")
    }


def trigger(scaled: Resource) -> dict[str, str]:
    (only,) = scaled["spec"]["triggers"]
    assert only["type"] == "kafka"
    metadata: dict[str, str] = only["metadata"]
    return metadata


def args_of(deployment: Resource) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    options = [a for a in container["args"] if a.startswith("--")]
    return dict(a.removeprefix("--").split("=", 1) for a in options)


# ---- schemas ------------------------------------------------------------------------------


@cache
def crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    """The CRD's schema for this version, made strict: the API server prunes unknown fields
    of a structural schema silently, so a misspelt field must fail here instead."""
    group, version = api_version.split("/")
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        if crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind:
            for served in crd["spec"]["versions"]:
                if served["name"] == version:
                    schema = _strict(served["schema"]["openAPIV3Schema"])
                    return jsonschema.Draft7Validator(schema)
    raise AssertionError(f"no vendored CRD schema for {api_version} {kind}")


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


CASES = {
    "default": (),
    "eos-no-keda-plaintext": ("mode=eos", "keda.enabled=false", "kafka.scram=false",
                              "kafka.tls=false"),
    "local-model-kip848": ("localModel.enabled=true", "kafka.groupProtocol=consumer"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_core_objects_are_valid_kubernetes_objects(case: str) -> None:
    core = [r for r in render(*CASES[case]) if r["kind"] in CORE_KINDS]
    assert {r["kind"] for r in core} >= {"Deployment", "PodDisruptionBudget", "ConfigMap"}
    for resource in core:
        kubernetes_validate.validate(resource, KUBERNETES, strict=True)


@pytest.mark.parametrize("case", CASES)
def test_keda_and_strimzi_resources_match_their_crd_schemas(case: str) -> None:
    custom = [r for r in render(*CASES[case]) if r["kind"] not in CORE_KINDS]
    assert custom
    for resource in custom:
        validator = crd_validator(resource["apiVersion"], resource["kind"])
        errors = [
            f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(resource)
        ]
        assert not errors, f"{resource['kind']} {resource['metadata']['name']}: {errors}"


def test_the_chart_passes_helm_lint_strict() -> None:
    done = subprocess.run(
        [helm(), "lint", "--strict", str(CHART)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_values_are_checked_against_the_charts_schema() -> None:
    with pytest.raises(RenderFailed, match="maxReplicas"):
        render("daemons.vendor-enrichment.maxReplicas=3")  # misspelt: would be ignored
    with pytest.raises(RenderFailed, match="alo"):
        render("mode=exactly-once")
    with pytest.raises(RenderFailed, match="classic"):
        render("kafka.groupProtocol=eager")


def test_the_strict_crd_check_sees_a_misspelt_field(default: list[Resource]) -> None:
    scaled = next(iter(of_kind(default, "ScaledObject").values()))
    wrong = {**scaled, "spec": {**scaled["spec"], "maxReplicas": 3}}
    assert list(crd_validator(scaled["apiVersion"], "ScaledObject").iter_errors(wrong))


def cel_rules() -> list[str]:
    rules: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            rules.extend(r["rule"] for r in node.get("x-kubernetes-validations", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(CRDS.glob("*.yaml")):
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return rules


@pytest.mark.parametrize("case", CASES)
def test_the_crds_cel_rules_hold(case: str) -> None:
    """JSON Schema cannot run the CRDs' CEL rules; these are all of them, checked by hand (a
    new rule in a newer CRD fails the count until it is checked here too)."""
    assert len(cel_rules()) == 4
    resources = render(*CASES[case])
    for scaled in of_kind(resources, "ScaledObject").values():
        assert scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    for user in of_kind(resources, "KafkaUser").values():
        authentication = user["spec"].get("authentication", {"type": "none"})
        if authentication["type"] != "tls":
            assert not {"validityDays", "renewalDays"} & authentication.keys()


# ---- one of each per daemon, labelled ----------------------------------------------------


def test_each_daemon_gets_its_deployment_scaler_budget_and_user(default: list[Resource]) -> None:
    daemons = set(GENERATED["daemons"])
    for kind in ("Deployment", "ScaledObject", "PodDisruptionBudget", "KafkaUser"):
        assert set(component(default, kind)) == daemons, kind
    topics = of_kind(default, "KafkaTopic")
    assert {t["spec"]["topicName"] for t in topics.values()} == set(GENERATED["topics"])
    for name, topic in GENERATED["topics"].items():
        spec = topics[name]["spec"]
        assert (spec["partitions"], spec["replicas"]) == (topic["partitions"], topic["replicas"])
        assert spec["config"] == topic["config"]
        assert topics[name]["metadata"]["labels"]["strimzi.io/cluster"] == "my-cluster"


def test_every_object_carries_the_recommended_labels(default: list[Resource]) -> None:
    for resource in default:
        labels = resource["metadata"]["labels"]
        for key in ("name", "instance", "version", "managed-by", "part-of"):
            assert f"app.kubernetes.io/{key}" in labels, (resource["kind"], key)
    for name, deployment in component(default, "Deployment").items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector["app.kubernetes.io/component"] == name
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        budget = component(default, "PodDisruptionBudget")[name]
        assert budget["spec"]["selector"]["matchLabels"] == selector


# ---- scaling ----------------------------------------------------------------------------


def test_each_scaler_watches_its_daemons_own_group_and_input(default: list[Resource]) -> None:
    deployments = component(default, "Deployment")
    for name, scaled in component(default, "ScaledObject").items():
        use_case = registry.use_case(name)
        meta = trigger(scaled)
        assert meta["consumerGroup"] == GENERATED["daemons"][name]["groupId"] == name
        assert meta["topic"] == use_case.input_topic
        assert scaled["spec"]["scaleTargetRef"]["name"] == deployments[name]["metadata"]["name"]
        assert "replicas" not in deployments[name]["spec"]  # KEDA's HPA owns the count


def test_replicas_never_exceed_the_input_partitions(default: list[Resource]) -> None:
    for name, scaled in component(default, "ScaledObject").items():
        partitions = GENERATED["topics"][registry.use_case(name).input_topic]["partitions"]
        assert scaled["spec"]["maxReplicaCount"] <= partitions
        meta = trigger(scaled)
        assert meta["allowIdleConsumers"] == "false"
        assert meta["limitToPartitionsWithLag"] == "true"


def test_more_replicas_than_partitions_must_be_meant() -> None:
    with pytest.raises(RenderFailed, match="sit idle"):
        render("daemons.vendor-enrichment.maxReplicaCount=12")
    meant = render(
        "daemons.vendor-enrichment.maxReplicaCount=12",
        "daemons.vendor-enrichment.allowIdleConsumers=true",
    )
    scaled = component(meant, "ScaledObject")["vendor-enrichment"]
    assert scaled["spec"]["maxReplicaCount"] == 12
    assert trigger(scaled)["allowIdleConsumers"] == "true"
    # KEDA refuses limitToPartitionsWithLag together with allowIdleConsumers
    assert trigger(scaled)["limitToPartitionsWithLag"] == "false"


def test_lag_threshold_is_target_drain_time_over_seconds_per_event(
    default: list[Resource],
) -> None:
    drain = GENERATED["targetDrainSeconds"]
    for name, scaled in component(default, "ScaledObject").items():
        per_event = GENERATED["daemons"][name]["scaling"]["secondsPerEvent"]
        assert int(trigger(scaled)["lagThreshold"]) == max(1, math.floor(drain / per_event))


def test_activation_and_offset_reset_agree_with_the_consumer(default: list[Resource]) -> None:
    reset = consumer_config(Settings(), "g")["auto.offset.reset"]
    for scaled in component(default, "ScaledObject").values():
        meta = trigger(scaled)
        assert meta["offsetResetPolicy"] == reset == "earliest"
        assert meta["scaleToZeroOnInvalidOffset"] == "false"  # a new group's backlog is lag
        assert meta["activationLagThreshold"] == "0"  # one event wakes a daemon at zero
        assert scaled["spec"]["minReplicaCount"] == 0


def test_scaling_steps_are_few_and_scale_down_waits(default: list[Resource]) -> None:
    for scaled in component(default, "ScaledObject").values():
        behavior = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300
        assert all(p["value"] == 1 for p in behavior["scaleDown"]["policies"])


def test_the_scaler_authenticates_as_its_own_user(default: list[Resource]) -> None:
    auths = of_kind(default, "TriggerAuthentication")
    secrets = of_kind(default, "Secret")
    users = of_kind(default, "KafkaUser")
    for scaled in component(default, "ScaledObject").values():
        meta = trigger(scaled)
        assert (meta["sasl"], meta["tls"]) == ("scram_sha512", "enable")
        ref = scaled["spec"]["triggers"][0]["authenticationRef"]["name"]
        params = {p["parameter"]: p for p in auths[ref]["spec"]["secretTargetRef"]}
        assert params["password"]["name"] == ref and ref in users  # Strimzi's Secret of it
        username = secrets[params["username"]["name"]]["stringData"]["username"]
        assert username == ref
        assert params["ca"] == {"parameter": "ca", "name": "my-cluster-cluster-ca-cert",
                                "key": "ca.crt"}  # fmt: skip


# ---- least privilege ---------------------------------------------------------------------


def acls(user: Resource) -> set[tuple[str, str, str, str]]:
    return {
        (a["resource"]["type"], a["resource"]["name"], a["resource"].get("patternType",
         "literal"), op)
        for a in user["spec"]["authorization"]["acls"]
        for op in a["operations"]
    }  # fmt: skip


def test_a_daemon_may_read_its_input_in_its_group_and_write_its_outputs_only(
    default: list[Resource],
) -> None:
    users = of_kind(default, "KafkaUser")
    deployments = component(default, "Deployment")
    for name, deployment in deployments.items():
        daemon = GENERATED["daemons"][name]
        user = users[deployment["metadata"]["name"]]
        expected = {
            ("topic", daemon["inputTopic"], "literal", "Read"),
            ("topic", daemon["inputTopic"], "literal", "Describe"),
            ("group", name, "literal", "Read"),
        } | {
            (("topic", t, "literal", op)) for t in daemon["writes"] for op in ("Write", "Describe")
        }
        assert acls(user) == expected
        use_case = registry.use_case(name)
        learns = {"memory.facts"} if use_case.remember is not None else set()
        assert {"daemons.runs", "guardrails.outcomes", "guardrails.review", f"{name}.dlq",
                use_case.output_topic, *learns} == set(daemon["writes"])  # fmt: skip
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert all(a.get("type", "allow") == "allow" for a in user["spec"]["authorization"]["acls"])


def test_the_scaler_may_only_describe(default: list[Resource]) -> None:
    for name, user in of_kind(default, "KafkaUser").items():
        if name.endswith("-scaler"):
            daemon = GENERATED["daemons"][user["metadata"]["labels"]["app.kubernetes.io/component"]]
            assert acls(user) == {
                ("topic", daemon["inputTopic"], "literal", "Describe"),
                ("group", daemon["groupId"], "literal", "Describe"),
            }


def test_exactly_once_adds_only_its_transactional_ids() -> None:
    resources = render("mode=eos")
    for name, deployment in component(resources, "Deployment").items():
        user = of_kind(resources, "KafkaUser")[deployment["metadata"]["name"]]
        extra = {a for a in acls(user) if a[0] == "transactionalId"}
        assert extra == {
            ("transactionalId", f"{name}-", "prefix", op) for op in ("Write", "Describe")
        }
        env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["DAEMONS_INSTANCE"]["value"] == "$(POD_NAME)"


# ---- probes and clocks -------------------------------------------------------------------


def test_timeouts_agree_with_the_runtimes_clocks(default: list[Resource]) -> None:
    for name, deployment in component(default, "Deployment").items():
        use_case = registry.use_case(name)
        options = args_of(deployment)
        run_timeout, grace = float(options["run-timeout"]), float(options["grace"])
        assert run_timeout == use_case.limits.timeout_s  # what the agent's own limit allows
        timings = Timings(run_timeout_s=run_timeout, grace_s=grace)  # what the process derives
        assert timings.max_poll_interval_ms / 1000 > run_timeout + grace
        pod = deployment["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] >= timings.grace_s + timings.commit_s
        assert pod["terminationGracePeriodSeconds"] == timings.termination_grace_s
        stall_after = float(options["stall-after"])
        assert stall_after == timings.stall_after_s > run_timeout  # a slow run is not a stall
        generated = GENERATED["daemons"][name]["timings"]
        assert generated["maxPollIntervalMs"] == timings.max_poll_interval_ms
        assert generated["pollStaleSeconds"] == timings.poll_stale_s


def test_probes_ask_the_loop_itself(default: list[Resource]) -> None:
    for deployment in component(default, "Deployment").values():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        port = next(p for p in container["ports"] if p["name"] == "health")
        assert args_of(deployment)["health-port"] == str(port["containerPort"])
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
        assert "startupProbe" not in container  # starting counts as a heartbeat


def test_no_static_membership(default: list[Resource]) -> None:
    text = json.dumps(default)
    assert "group.instance.id" not in text and "GROUP_INSTANCE_ID" not in text
    for deployment in component(default, "Deployment").values():
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        assert "DAEMONS_INSTANCE" not in {e["name"] for e in env}  # at least once: none needed


# ---- configuration and security ----------------------------------------------------------


def test_no_secret_in_the_config_map(default: list[Resource]) -> None:
    (config,) = of_kind(default, "ConfigMap").values()
    for key in config["data"]:
        assert not any(word in key for word in SECRETISH), key
    with pytest.raises(RenderFailed, match="looks like a secret"):
        render("config.OPENAI_API_KEY=sk-test")


def test_configuration_is_environment_only(default: list[Resource]) -> None:
    (config,) = of_kind(default, "ConfigMap").values()
    assert all(k.split("_")[0] in {"KAFKA", "DAEMONS", "OTEL", "SCHEMA"} for k in config["data"])
    for deployment in component(default, "Deployment").values():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": deployment["metadata"]["name"], "key": "password"}  # fmt: skip
        refs = [next(iter(e.values()))["name"] for e in container["envFrom"]]
        assert refs == [config["metadata"]["name"], "process-daemons-secrets"]


def test_pods_run_as_non_root_with_a_read_only_root_and_resources(default: list[Resource]) -> None:
    for deployment in component(default, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["requests"] and container["resources"]["limits"]


def test_a_disruption_takes_one_replica_at_a_time(default: list[Resource]) -> None:
    for budget in component(default, "PodDisruptionBudget").values():
        assert budget["spec"]["maxUnavailable"] == 1


def test_without_keda_a_fixed_count_runs() -> None:
    resources = render("keda.enabled=false", "replicas=2")
    assert not of_kind(resources, "ScaledObject") and not of_kind(
        resources, "TriggerAuthentication"
    )
    assert all(d["spec"]["replicas"] == 2 for d in component(resources, "Deployment").values())
    assert not [u for u in of_kind(resources, "KafkaUser") if u.endswith("-scaler")]


def test_a_daemon_can_be_left_out() -> None:
    resources = render("daemons.client-onboarding.enabled=false")
    assert set(component(resources, "Deployment")) == set(GENERATED["daemons"]) - {
        "client-onboarding"
    }


def test_the_local_model_is_a_native_sidecar_up_before_the_daemon() -> None:
    resources = render("localModel.enabled=true")
    for deployment in component(resources, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        (model,) = pod["initContainers"]
        assert model["restartPolicy"] == "Always"  # a sidecar: runs beside the daemon
        assert model["args"][:2] == ["llm", "serve"]
        assert model["startupProbe"]["httpGet"]["path"] == "/health"
        assert model["securityContext"]["readOnlyRootFilesystem"] is True
        port = next(p["containerPort"] for p in model["ports"] if p["name"] == "model")
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        assert env["DAEMONS_LOCAL_LLM_URL"] == f"http://127.0.0.1:{port}/v1"
