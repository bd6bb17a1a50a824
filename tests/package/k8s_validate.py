#!/usr/bin/python3
"""Offline check of Kubernetes manifests against the API's models (Debian's python3-kubernetes).

Usage: k8s_validate.py FILE...   ('-' reads stdin). Each YAML document must name a kind the client
knows; every key, at every depth, must be a field of its model (a misspelt field fails: the client's
deserializer alone ignores unknown keys, so keys are compared with each model's attribute_map), types
must match, and the deserializer must accept the document (required fields). ServiceMonitor, a CRD,
is checked against a small schema of the Prometheus operator's fields. Then the documents are
checked against each other: selectors, port names, ConfigMap/Secret references, drain timing.
k8s_validate.py --self-test shows that a misspelt field and a wrong type are caught.
"""
import difflib
import json
import re
import sys

import kubernetes.client as k8s
import yaml

# apiVersion -> the client's model prefix. python3-kubernetes 22 predates autoscaling/v2 (GA in
# Kubernetes 1.23): v2 is v2beta2 graduated with the same fields, so v2beta2's model checks it.
PREFIX = {"v1": "V1", "apps/v1": "V1", "policy/v1": "V1", "autoscaling/v2": "V2beta2", "autoscaling/v1": "V1"}
PRIMITIVE = {"str": str, "int": int, "bool": bool, "float": (int, float), "datetime": str, "date": str}


def check_model(value, type_name, where, errors):
    """Recursively checks `value` against the client's type string (e.g. 'list[V1Container]')."""
    if value is None:
        return
    if type_name == "object":  # IntOrString, RawExtension: either form
        return
    if type_name.startswith("list["):
        if not isinstance(value, list):
            errors.append(f"{where}: a list expected, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            check_model(item, type_name[5:-1], f"{where}[{i}]", errors)
        return
    if type_name.startswith("dict("):
        if not isinstance(value, dict):
            errors.append(f"{where}: a map expected, got {type(value).__name__}")
            return
        inner = type_name[5:-1].split(", ", 1)[1]
        for k, v in value.items():
            check_model(v, inner, f"{where}.{k}", errors)
        return
    if type_name in PRIMITIVE:
        want = PRIMITIVE[type_name]
        if not isinstance(value, want) or (type_name == "int" and isinstance(value, bool)):
            errors.append(f"{where}: {type_name} expected, got {type(value).__name__} {value!r}")
        return
    model = getattr(k8s, type_name)
    if not isinstance(value, dict):
        errors.append(f"{where}: a {type_name} object expected, got {type(value).__name__}")
        return
    fields = {json_key: model.openapi_types[attr] for attr, json_key in model.attribute_map.items()}
    for key, item in value.items():
        if key not in fields:
            near = difflib.get_close_matches(key, list(fields), n=1)
            errors.append(f"{where}.{key}: not a field of {type_name}" + (f" (did you mean {near[0]}?)" if near else ""))
            continue
        check_model(item, fields[key], f"{where}.{key}", errors)


class _Response:
    def __init__(self, doc):
        self.data = json.dumps(doc)


def check_api_object(doc, where, errors):
    api, kind = doc.get("apiVersion"), doc.get("kind")
    prefix = PREFIX.get(api)
    name = f"{prefix}{kind}" if prefix else None
    if name is None or not hasattr(k8s, name):
        errors.append(f"{where}: {api} {kind} is not a kind this check knows")
        return
    check_model(doc, name, f"{where} {kind}", errors)
    try:  # required fields and enum-free validation, as the client applies them
        k8s.ApiClient().deserialize(_Response(doc), name)
    except (ValueError, TypeError) as e:
        errors.append(f"{where} {kind}: the client's deserializer refuses it: {e}")


def duration(text):
    return isinstance(text, str) and re.fullmatch(r"(\d+(ms|s|m|h))+", text) is not None


def check_service_monitor(doc, where, errors):
    """The fields of monitoring.coreos.com/v1 ServiceMonitor that a scrape of pgfunnel uses."""
    where = f"{where} ServiceMonitor"
    if doc.get("apiVersion") != "monitoring.coreos.com/v1":
        errors.append(f"{where}: apiVersion must be monitoring.coreos.com/v1")
    for key in doc:
        if key not in ("apiVersion", "kind", "metadata", "spec"):
            errors.append(f"{where}.{key}: not a field")
    check_model(doc.get("metadata"), "V1ObjectMeta", f"{where}.metadata", errors)
    spec = doc.get("spec") or {}
    allowed = {"selector": "V1LabelSelector", "endpoints": None, "namespaceSelector": None, "jobLabel": "str",
               "targetLabels": "list[str]", "podTargetLabels": "list[str]", "sampleLimit": "int"}
    for key, value in spec.items():
        if key not in allowed:
            errors.append(f"{where}.spec.{key}: not a field of ServiceMonitorSpec")
        elif allowed[key]:
            check_model(value, allowed[key], f"{where}.spec.{key}", errors)
    if "selector" not in spec or not isinstance(spec.get("endpoints"), list) or not spec["endpoints"]:
        errors.append(f"{where}.spec: selector and at least one endpoint are required")
        return
    endpoint_fields = {"port": str, "targetPort": (str, int), "path": str, "scheme": str, "interval": str,
                       "scrapeTimeout": str, "honorLabels": bool, "relabelings": list, "metricRelabelings": list}
    for i, endpoint in enumerate(spec["endpoints"]):
        for key, value in endpoint.items():
            if key not in endpoint_fields:
                errors.append(f"{where}.spec.endpoints[{i}].{key}: not a field of Endpoint")
            elif not isinstance(value, endpoint_fields[key]):
                errors.append(f"{where}.spec.endpoints[{i}].{key}: wrong type {type(value).__name__}")
        for key in ("interval", "scrapeTimeout"):
            if key in endpoint and not duration(endpoint[key]):
                errors.append(f"{where}.spec.endpoints[{i}].{key}: {endpoint[key]!r} is not a duration")
        if "port" not in endpoint and "targetPort" not in endpoint:
            errors.append(f"{where}.spec.endpoints[{i}]: needs port (a Service port name)")


def pod_spec(doc):
    return (((doc.get("spec") or {}).get("template") or {}).get("spec")) or {}


def seconds(text):
    match = re.fullmatch(r"(\d+)(s?)", str(text))
    return int(match.group(1)) if match else None


def shutdown_timeout(container, config_maps):
    """pgfunnel's shutdown_timeout in seconds: its env variable, else the mounted file, else 30."""
    for e in container.get("env") or []:
        if e.get("name") == "PGFUNNEL_SHUTDOWN_TIMEOUT" and "value" in e:
            return seconds(e["value"])
    for data in config_maps.values():
        for text in data.values():
            match = re.search(r"^shutdown_timeout:\s*(\S+)", text, re.M)
            if match:
                return seconds(match.group(1))
    return 30


def cross_check(docs, errors):
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    config_maps = {n: d.get("data") or {} for n, d in by_kind.get("ConfigMap", {}).items()}
    secrets = {n: {**(d.get("stringData") or {}), **(d.get("data") or {})} for n, d in by_kind.get("Secret", {}).items()}
    pods = {}
    for name, deployment in by_kind.get("Deployment", {}).items():
        where = f"Deployment {name}"
        labels = ((deployment["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        pods[name] = labels
        selector = (deployment["spec"].get("selector") or {}).get("matchLabels") or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            errors.append(f"{where}: spec.selector does not match the pod template's labels")
        spec = pod_spec(deployment)
        for volume in spec.get("volumes") or []:
            ref = (volume.get("configMap") or {}).get("name")
            if ref and ref not in config_maps:
                errors.append(f"{where}: volume {volume['name']} names ConfigMap {ref}, not in these documents")
        mounts = {v["name"] for v in spec.get("volumes") or []}
        grace = spec.get("terminationGracePeriodSeconds", 30)
        for container in spec.get("containers") or []:
            cwhere = f"{where} container {container['name']}"
            ports = {p.get("name") for p in container.get("ports") or []}
            for m in container.get("volumeMounts") or []:
                if m["name"] not in mounts:
                    errors.append(f"{cwhere}: volumeMount {m['name']} names no volume")
            for e in container.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and (ref["name"] not in secrets or ref["key"] not in secrets[ref["name"]]):
                    errors.append(f"{cwhere}: env {e['name']} names Secret {ref['name']} key {ref['key']}, not here")
                ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
                if ref and (ref["name"] not in config_maps or ref["key"] not in config_maps[ref["name"]]):
                    errors.append(f"{cwhere}: env {e['name']} names ConfigMap {ref['name']} key {ref['key']}, not here")
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                port = ((container.get(probe) or {}).get("httpGet") or {}).get("port")
                if isinstance(port, str) and port not in ports:
                    errors.append(f"{cwhere}: {probe} port {port} is not a container port name")
            if "pgfunnel" not in container.get("image", ""):
                continue
            # pgfunnel drains for up to shutdown_timeout after SIGTERM, which comes after preStop:
            # the grace period must cover both, or the kubelet's SIGKILL cuts the drain short.
            ready = ((container.get("readinessProbe") or {}).get("httpGet") or {}).get("path")
            if ready != "/readyz":
                errors.append(f"{cwhere}: readinessProbe must ask /readyz (got {ready})")
            command = (((container.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command") or []
            pre_stop = seconds(command[-1]) if command and command[0] in ("sleep", "/bin/sleep") else 0
            drain = shutdown_timeout(container, config_maps)
            if drain is None or drain == 0 or grace < (pre_stop or 0) + drain + 5:
                errors.append(f"{cwhere}: terminationGracePeriodSeconds {grace} < preStop {pre_stop} s + "
                              f"shutdown_timeout {drain} s + 5 s")
    services = by_kind.get("Service", {})
    for name, service in services.items():
        selector = service["spec"].get("selector") or {}
        targets = [d for d, labels in pods.items() if selector and all(labels.get(k) == v for k, v in selector.items())]
        if not targets:
            errors.append(f"Service {name}: its selector matches no Deployment's pods")
            continue
        container_ports = {p.get("name") for c in pod_spec(by_kind["Deployment"][targets[0]]).get("containers", [])
                           for p in c.get("ports") or []}
        for port in service["spec"].get("ports") or []:
            target = port.get("targetPort")
            if isinstance(target, str) and target not in container_ports:
                errors.append(f"Service {name} port {port.get('name')}: targetPort {target} is no container port")
    for kind in ("PodDisruptionBudget",):
        for name, doc in by_kind.get(kind, {}).items():
            selector = (doc["spec"].get("selector") or {}).get("matchLabels") or {}
            if not any(all(l.get(k) == v for k, v in selector.items()) for l in pods.values()) or not selector:
                errors.append(f"{kind} {name}: its selector matches no Deployment's pods")
    for name, doc in by_kind.get("HorizontalPodAutoscaler", {}).items():
        ref = doc["spec"].get("scaleTargetRef") or {}
        if ref.get("kind") != "Deployment" or ref.get("name") not in pods:
            errors.append(f"HorizontalPodAutoscaler {name}: scaleTargetRef names no Deployment here")
    for name, doc in by_kind.get("ServiceMonitor", {}).items():
        selector = (doc["spec"].get("selector") or {}).get("matchLabels") or {}
        matched = [s for s in services.values()
                   if selector and all((s["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())]
        if not matched:
            errors.append(f"ServiceMonitor {name}: its selector matches no Service's labels")
        for endpoint in doc["spec"].get("endpoints") or []:
            names = {p.get("name") for s in matched for p in s["spec"].get("ports") or []}
            if matched and endpoint.get("port") not in names:
                errors.append(f"ServiceMonitor {name}: endpoint port {endpoint.get('port')} is no Service port name")


def validate(texts):
    """texts: [(label, yaml text)] -> (documents, errors)."""
    errors, docs = [], []
    for label, text in texts:
        try:
            loaded = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as e:
            errors.append(f"{label}: does not parse: {e}")
            continue
        for i, doc in enumerate(loaded):
            where = f"{label}[{i}]"
            if not isinstance(doc, dict) or not all(k in doc for k in ("apiVersion", "kind", "metadata")):
                errors.append(f"{where}: not a Kubernetes object (apiVersion, kind, metadata)")
                continue
            if not (doc["metadata"] or {}).get("name"):
                errors.append(f"{where}: metadata.name missing")
                continue
            if doc["kind"] == "ServiceMonitor":
                check_service_monitor(doc, where, errors)
            else:
                check_api_object(doc, where, errors)
            docs.append(doc)
    if not errors:
        cross_check(docs, errors)
    return docs, errors


def self_test():
    """The check must fail on what it claims to catch; the deserializer alone must not be trusted."""
    good = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    import copy
    misspelt = copy.deepcopy(good)
    misspelt["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    wrong_type = copy.deepcopy(good)
    wrong_type["spec"]["replicas"] = "two"
    missing = copy.deepcopy(good)
    del missing["spec"]["template"]["spec"]["containers"][0]["name"]
    ok = True
    k8s.ApiClient().deserialize(_Response(misspelt), "V1Deployment")  # no exception: why keys are compared
    for label, doc, want in (("good", good, None), ("misspelt field", misspelt, "imagePullPolicyy: not a field"),
                             ("wrong type", wrong_type, "replicas: int expected"),
                             ("missing name", missing, "deserializer refuses")):
        _, errors = validate([(label, yaml.safe_dump(doc))])
        caught = any(want in e for e in errors) if want else not errors
        print(("pass " if caught else "FAIL ") + f"self-test {label}: {errors or 'clean'}")
        ok = ok and caught
    return ok


def main():
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(0 if self_test() else 1)
    texts = [(p, sys.stdin.read() if p == "-" else open(p).read()) for p in sys.argv[1:]]
    docs, errors = validate(texts)
    for e in errors:
        print(e)
    kinds = ", ".join(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
    print(f"{' '.join(sys.argv[1:])}: {'valid' if not errors else str(len(errors)) + ' error(s)'} ({kinds})")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
