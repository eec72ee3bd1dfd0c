#!/usr/bin/python3
"""Render every kustomize overlay under deploy/k8s/overlays with
`kubectl kustomize` and check what a cluster would get:

- every Deployment: readiness probe on /readyz and liveness on /healthz
  (named port declared), non-root with RuntimeDefault seccomp, no privilege
  escalation, read-only root filesystem, ALL capabilities dropped, CPU and
  memory requests and limits;
- its config file (the --config argument) is in a rendered ConfigMap, is
  JSON, listens on 0.0.0.0, its key files are on read-only Secret mounts and
  every state directory it writes is on a writable volume (else the daemon
  cannot start on a read-only root filesystem);
- per overlay: passport has issuer and broker, background-check one `kbs`,
  ha several replicas and PodDisruptionBudgets, ha-postgres the same with
  an example PostgreSQL StatefulSet (Service, volume claim, TLS and password
  from a Secret, the same pod hardening), resources-akv a
  SecretProviderClass mounted read-only under the repository through the
  CSI driver, resources-secret a Secret volume mounted the same way;
- deploy/k8s/make-secrets.sh makes the Secrets, with the keys, the
  Deployments and StatefulSets mount; with KBS_DB_EXAMPLE=1 the kbs-db URL
  names the example server (verify-full, its CA in kbs-db, the password of
  kbs-postgres) and the server certificate verifies for that name.

Prints one line per overlay and `k8s: N passed, M failed`.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
K8S = os.path.join(ROOT, "deploy", "k8s")
EXPECTED = {"passport", "background-check", "resources-secret", "resources-akv", "ha", "ha-postgres"}


def render(overlay):
    out = subprocess.run(["kubectl", "kustomize", os.path.join(K8S, "overlays", overlay)],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError("kubectl kustomize failed: " + out.stderr.strip()[-400:])
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def under(path, mount):
    return path == mount or path.startswith(mount.rstrip("/") + "/")


def config_paths(cfg):
    """(key files, state dirs) named by a daemon configuration."""
    keys, state = [], []
    parts = [cfg] + [cfg[k] for k in ("issuer", "broker") if isinstance(cfg.get(k), dict)]
    for c in parts:
        keys += [c.get("session", {}).get("key_file"), c.get("token", {}).get("signing_key"),
                 c.get("token", {}).get("cert_chain")]
        keys += c.get("admin", {}).get("public_keys", [])
        keys += [c.get("postgres", {}).get("url_file")]
        keys += [s.get("kek_file") for s in c.get("stores", {}).values()]
        state += [c.get("repository", {}).get("dir"), c.get("policy", {}).get("state_dir"),
                  c.get("verifier", {}).get("cache_dir")]
    return [k for k in keys if k], [s for s in state if s]


def check_deployment(dep, objs, errs):
    name = dep["metadata"]["name"]
    pod = dep["spec"]["template"]["spec"]
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True:
        errs.append(f"{name}: pod runAsNonRoot is not true")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        errs.append(f"{name}: no RuntimeDefault seccomp profile")
    if not isinstance(psc.get("runAsUser"), int) or psc["runAsUser"] == 0:
        errs.append(f"{name}: runAsUser is not a non-zero uid")
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    configmaps = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ConfigMap"}
    for c in pod["containers"]:
        cn = f"{name}/{c['name']}"
        ports = {p.get("name") for p in c.get("ports", [])} | {p["containerPort"] for p in c.get("ports", [])}
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            g = c.get(probe, {}).get("httpGet", {})
            if g.get("path") != path:
                errs.append(f"{cn}: {probe} is not an HTTP GET of {path}")
            if g.get("port") not in ports:
                errs.append(f"{cn}: {probe} port {g.get('port')} is not a container port")
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            errs.append(f"{cn}: allowPrivilegeEscalation is not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            errs.append(f"{cn}: readOnlyRootFilesystem is not true")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            errs.append(f"{cn}: capabilities do not drop ALL")
        if sc.get("privileged"):
            errs.append(f"{cn}: privileged")
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(res.get(kind, {})):
                errs.append(f"{cn}: no cpu and memory {kind}")
        mounts = c.get("volumeMounts", [])
        for m in mounts:
            if m["name"] not in vols:
                errs.append(f"{cn}: mount of undeclared volume {m['name']}")
        # The configuration it runs with.
        args = c.get("command", []) + c.get("args", [])
        if "--config" not in args:
            errs.append(f"{cn}: no --config")
            continue
        cfg_path = args[args.index("--config") + 1]
        cfg = None
        for m in mounts:
            v = vols.get(m["name"], {})
            if "configMap" in v and os.path.dirname(cfg_path) == m["mountPath"]:
                cm = configmaps.get(v["configMap"]["name"])
                if cm is None:
                    errs.append(f"{cn}: ConfigMap {v['configMap']['name']} is not rendered")
                    continue
                text = cm.get("data", {}).get(os.path.basename(cfg_path))
                if text is not None:
                    cfg = json.loads(text)
        if cfg is None:
            errs.append(f"{cn}: {cfg_path} is in no rendered ConfigMap")
            continue
        if not cfg.get("http", {}).get("listen", "").startswith("0.0.0.0:"):
            errs.append(f"{cn}: does not listen on 0.0.0.0 (unreachable through its Service)")
        keys, state = config_paths(cfg)
        for k in keys:
            ms = [m for m in mounts if under(k, m["mountPath"])]
            if not ms or "secret" not in vols.get(ms[-1]["name"], {}) or not ms[-1].get("readOnly"):
                errs.append(f"{cn}: key file {k} is not on a read-only Secret mount")
        for s in state:
            ms = [m for m in mounts if under(s, m["mountPath"])]
            if not ms or ms[0].get("readOnly"):
                errs.append(f"{cn}: state directory {s} is not on a writable volume")
    return vols


def mounted_under_repo(dep, kind, errs):
    """Volumes of `kind` (csi, secret) mounted read-only under the broker's repository."""
    found = []
    pod = dep["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    for c in pod["containers"]:
        for m in c.get("volumeMounts", []):
            v = vols.get(m["name"], {})
            if kind in v and m["mountPath"].startswith("/var/lib/kbs-c/broker/resources/"):
                if not m.get("readOnly"):
                    errs.append(f"{m['name']}: mounted writable under the repository")
                found.append((m, v))
    return found


def check_postgres(objs, errs):
    """The example PostgreSQL: a StatefulSet with its Service, a volume
    claim for the data, hardened like the daemons, password and TLS files
    from a read-only Secret mount."""
    sts = {o["metadata"]["name"]: o for o in objs if o["kind"] == "StatefulSet"}
    svcs = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Service"}
    pg = sts.get("kbs-postgres")
    if pg is None:
        errs.append("no StatefulSet kbs-postgres")
        return
    if pg["spec"].get("serviceName") != "kbs-postgres" or "kbs-postgres" not in svcs:
        errs.append("kbs-postgres: no Service of that name")
    elif [p.get("port") for p in svcs["kbs-postgres"]["spec"]["ports"]] != [5432]:
        errs.append("kbs-postgres: the Service does not expose 5432")
    pod = pg["spec"]["template"]["spec"]
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True or not psc.get("runAsUser") or \
            psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        errs.append("kbs-postgres: pod not non-root with RuntimeDefault seccomp")
    claims = {c["metadata"]["name"] for c in pg["spec"].get("volumeClaimTemplates", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    for c in pod["containers"]:
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False or sc.get("readOnlyRootFilesystem") is not True \
                or sc.get("capabilities", {}).get("drop") != ["ALL"]:
            errs.append("kbs-postgres: container not hardened (no escalation, read-only root, drop ALL)")
        if not c.get("readinessProbe") or not c.get("livenessProbe"):
            errs.append("kbs-postgres: no readiness and liveness probes")
        res = c.get("resources", {})
        if not all({"cpu", "memory"} <= set(res.get(k, {})) for k in ("requests", "limits")):
            errs.append("kbs-postgres: no cpu and memory requests and limits")
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        data = mounts.get("/var/lib/kbs-db")
        if data is None or data["name"] not in claims:
            errs.append("kbs-postgres: /var/lib/kbs-db is not on its volume claim")
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        pw = env.get("KBS_PG_PASSWORD_FILE", "")
        sec = [m for p, m in mounts.items() if under(pw, p)]
        if not sec or vols.get(sec[-1]["name"], {}).get("secret", {}).get("secretName") != "kbs-postgres" \
                or not sec[-1].get("readOnly"):
            errs.append("kbs-postgres: the password file is not on a read-only mount of Secret kbs-postgres")
        if not env.get("KBS_PG_TLS_DIR"):
            errs.append("kbs-postgres: no TLS (KBS_PG_TLS_DIR)")


def check_overlay(name, objs):
    errs = []
    deps = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Deployment"}
    svcs = {o["metadata"]["name"] for o in objs if o["kind"] == "Service"}
    if not deps:
        errs.append("no Deployment")
    for d in deps.values():
        check_deployment(d, objs, errs)
        if d["metadata"]["name"] not in svcs:
            errs.append(f"{d['metadata']['name']}: no Service of that name")
    want = {"background-check": {"kbs"}}.get(name, {"kbs-issuer", "kbs-broker"})
    if set(deps) != want:
        errs.append(f"Deployments {sorted(deps)}, expected {sorted(want)}")
    if name == "ha-postgres":
        check_postgres(objs, errs)
    if name in ("ha", "ha-postgres"):
        for n, d in deps.items():
            if d["spec"].get("replicas", 1) < 2:
                errs.append(f"{n}: {d['spec'].get('replicas', 1)} replica(s) in the HA overlay")
        pdbs = {o["metadata"]["name"] for o in objs if o["kind"] == "PodDisruptionBudget"}
        if pdbs != want:
            errs.append(f"PodDisruptionBudgets {sorted(pdbs)}, expected {sorted(want)}")
        for o in objs:
            if o["kind"] == "PersistentVolumeClaim" and "ReadWriteMany" not in o["spec"]["accessModes"]:
                errs.append(f"PVC {o['metadata']['name']} is not ReadWriteMany but shared by replicas")
        # Replicas agree through PostgreSQL: both read its URL from a
        # Secret, the broker routes every resource to a postgres store.
        cms = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ConfigMap"}
        for n, f in (("kbs-issuer", "issuer.json"), ("kbs-broker", "broker.json")):
            cm = next((c for k, c in cms.items() if k.startswith(n + "-config")), None)
            cfg = json.loads(cm["data"][f]) if cm else {}
            if not cfg.get("postgres", {}).get("url_file"):
                errs.append(f"{n}: no postgres.url_file in the HA overlay")
            if n == "kbs-broker":
                routes = cfg.get("repository", {}).get("routes", [])
                stores = cfg.get("stores", {})
                if not any(r.get("pattern") == "**" and stores.get(r.get("store"), {}).get("type") == "postgres"
                           for r in routes):
                    errs.append("kbs-broker: \"**\" is not routed to a postgres store")
                if not cfg.get("postgres", {}).get("audit"):
                    errs.append("kbs-broker: the audit chain is not in the database")
    broker = deps.get("kbs-broker")
    if name == "resources-akv" and broker:
        spcs = [o for o in objs if o["kind"] == "SecretProviderClass"]
        found = mounted_under_repo(broker, "csi", errs)
        if not found:
            errs.append("no CSI volume mounted under the repository")
        for m, v in found:
            if v["csi"].get("driver") != "secrets-store.csi.k8s.io" or not v["csi"].get("readOnly"):
                errs.append("CSI volume is not a read-only Secrets Store CSI volume")
            spc = v["csi"].get("volumeAttributes", {}).get("secretProviderClass")
            if spc not in {o["metadata"]["name"] for o in spcs}:
                errs.append(f"SecretProviderClass {spc} is not rendered")
        for o in spcs:
            if o["spec"].get("provider") != "azure" or "keyvaultName" not in o["spec"].get("parameters", {}):
                errs.append("the SecretProviderClass is not an Azure Key Vault example")
    if name == "resources-secret" and broker:
        if not mounted_under_repo(broker, "secret", errs):
            errs.append("no Secret volume mounted under the repository")
    return errs


def make_secrets(d, example):
    env = dict(os.environ, KBS_DB_EXAMPLE="1" if example else "")
    r = subprocess.run([os.path.join(K8S, "make-secrets.sh"), d], capture_output=True,
                       text=True, timeout=60, env=env)
    if r.returncode != 0:
        raise AssertionError(f"make-secrets.sh failed: {r.stderr.strip()}")
    return {s["metadata"]["name"]: s for s in yaml.safe_load_all(open(os.path.join(d, "secrets.yaml")))}


def check_example_db(errs):
    """KBS_DB_EXAMPLE=1: the kbs-db URL names the example server, with
    verify-full and its CA; the server's certificate verifies for that name."""
    from urllib.parse import parse_qs, urlparse
    with tempfile.TemporaryDirectory() as d:
        try:
            made = make_secrets(d, True)
        except AssertionError as e:
            errs.append(str(e))
            return
        data = {n: {k: base64.b64decode(v) for k, v in s.get("data", {}).items()} for n, s in made.items()}
        if set(data.get("kbs-db", {})) != {"url", "kek", "ca.pem"} or \
                set(data.get("kbs-postgres", {})) != {"password", "server.crt", "server.key"}:
            errs.append("make-secrets.sh (example db): kbs-db / kbs-postgres keys: "
                        f"{sorted(data.get('kbs-db', {}))} / {sorted(data.get('kbs-postgres', {}))}")
            return
        u = urlparse(data["kbs-db"]["url"].decode().strip())
        q = parse_qs(u.query)
        if u.hostname != "kbs-postgres.kbs-c.svc" or u.port != 5432 or u.username != "kbs":
            errs.append(f"example db: the URL names {u.username}@{u.hostname}:{u.port}")
        if u.password != data["kbs-postgres"]["password"].decode():
            errs.append("example db: the URL's password is not the server's")
        if q.get("sslmode") != ["verify-full"] or q.get("sslrootcert") != ["/etc/kbs-c/db/ca.pem"]:
            errs.append(f"example db: not verify-full with the CA mounted from kbs-db ({u.query[:80]})")
        for n in ("ca.pem", "server.crt"):
            with open(os.path.join(d, n), "wb") as f:
                f.write(data["kbs-db"]["ca.pem"] if n == "ca.pem" else data["kbs-postgres"]["server.crt"])
        r = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(d, "ca.pem"), "-verify_hostname",
                            u.hostname or "", "-purpose", "sslserver", os.path.join(d, "server.crt")],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            errs.append(f"example db: the server certificate does not verify: {r.stdout}{r.stderr}")


def check_make_secrets(all_objs):
    """make-secrets.sh provides every Secret key a Deployment's config reads."""
    errs = []
    with tempfile.TemporaryDirectory() as d:
        try:
            made = make_secrets(d, False)
        except AssertionError as e:
            return [str(e)]
        if oct(os.stat(os.path.join(d, "secrets.yaml")).st_mode & 0o777) != "0o600":
            errs.append("secrets.yaml is not 0600")
    check_example_db(errs)
    with tempfile.TemporaryDirectory() as d:
        names = set(made) | set(make_secrets(d, True))
    if len(base64.b64decode(made.get("kbs-issuer-keys", {}).get("data", {}).get("session.key", ""))) != 32:
        errs.append("kbs-issuer-keys/session.key is not 32 bytes")
    for objs in all_objs:
        for dep in (o for o in objs if o["kind"] in ("Deployment", "StatefulSet")):
            for v in dep["spec"]["template"]["spec"].get("volumes", []):
                sn = v.get("secret", {}).get("secretName")
                if sn in ("kbs-resources",) or sn is None:
                    continue  # the operator's own resources
                if sn not in names:
                    errs.append(f"{dep['metadata']['name']}: Secret {sn} is not made by make-secrets.sh")
    if len(base64.b64decode(made.get("kbs-db", {}).get("data", {}).get("kek", ""))) != 32:
        errs.append("kbs-db/kek is not 32 bytes")
    for n, keys in (("kbs-issuer-keys", {"session.key", "token-key.pem", "token-cert.pem"}), ("kbs-admin", {"admin-pub.pem"}),
                    ("kbs-db", {"url", "kek"})):
        if set(made.get(n, {}).get("data", {})) != keys:
            errs.append(f"make-secrets.sh: {n} holds {sorted(made.get(n, {}).get('data', {}))}")
    return errs


def main():
    overlays = sorted(os.listdir(os.path.join(K8S, "overlays")))
    passed = failed = 0
    if set(overlays) != EXPECTED:
        print(f"FAILED: k8s: overlays {overlays}, expected {sorted(EXPECTED)} (update this test)")
        failed += 1
    rendered = []
    for o in overlays:
        try:
            objs = render(o)
            rendered.append(objs)
            errs = check_overlay(o, objs)
        except Exception as e:  # a render or parse failure is this overlay's failure
            errs = [f"{type(e).__name__}: {e}"]
        if errs:
            failed += 1
            for e in errs:
                print(f"FAILED: k8s {o}: {e}")
        else:
            passed += 1
            kinds = sorted({x["kind"] for x in objs})
            print(f"k8s: {o}: {len(objs)} objects ({', '.join(kinds)}) ok")
    errs = check_make_secrets(rendered)
    for e in errs:
        print(f"FAILED: k8s: {e}")
    failed += bool(errs)
    passed += not errs
    print(f"k8s: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
