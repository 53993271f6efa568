#!/usr/bin/env python3
"""`/ask` under load, with and without an attacker (benches/load_attack.sh runs it).

For each number of clients: C threads send in-house test questions to `POST /ask` for
SECONDS seconds, one request after another each; then the same while attacker threads
send the hostile requests of the server's robustness tests at the same time (stalled
headers and bodies, a lying Content-Length, idle keep-alive connections, queries that
nest too deep, cross products, property-path closures, memory amplification, SERVICE).
Prints, per run: questions per second, p50 and p99 latency, errors (non-200 or failed
connections), the server's resident memory before and after, and the p99 ratio of the
attacked run to the quiet one.

Usage: load.py PORT PID QUESTIONS.jsonl IDS [SECONDS (60)] [CLIENTS (1,8,32)]
Standard library only."""
import http.client
import json
import random
import socket
import statistics
import sys
import threading
import time
import urllib.parse


def questions(path, ids_path):
    listed = {line.strip() for line in open(ids_path) if line.strip()}
    out = []
    for line in open(path):
        item = json.loads(line)
        if item["id"] in listed:
            continue  # training questions: the in-house test is the unlisted ones
        q = item["question"]
        choices = [c["text"] for c in q["choices"]]
        if len({c.strip().lower() for c in choices}) < len(choices):
            continue  # 15 of them repeat a choice, which /ask refuses (400)
        out.append({"question": q["stem"], "choices": choices})
    return out


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def asker(port, bodies, stop, lat, errors):
    conn = None
    i = random.randrange(len(bodies))
    while not stop.is_set():
        body = json.dumps(bodies[i % len(bodies)])
        i += 1
        t = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("POST", "/ask", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                lat.append((time.perf_counter() - t) * 1e3)
            else:
                errors.append(r.status)
        except Exception as e:  # noqa: BLE001 - any failure is an error of the run
            errors.append(type(e).__name__)
            conn = None


DEEP = "SELECT * WHERE { FILTER(" + "(" * 900 + "1" + ")" * 900 + ") }"
CROSS = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
CLOSURE = ("PREFIX r: <http://conceptnet.io/r/> SELECT (COUNT(*) AS ?n) WHERE "
           "{ ?x (r:RelatedTo|^r:RelatedTo|r:IsA)* ?y }")
AMPLIFY = ("SELECT ?x WHERE { BIND(\"aaaaaaaaaaaaaaaa\" AS ?x0) "
           + " ".join(f"BIND(CONCAT(?x{i}, ?x{i}) AS ?x{i + 1})" for i in range(23))
           + " BIND(?x23 AS ?x) }")
SERVICE = "SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }"


def attacks(port):
    """One round of hostile requests; each returns when the server answers or cuts it."""
    def raw(data, wait=0.0, read=True):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        try:
            s.sendall(data)
            if wait:
                time.sleep(wait)
            if read:
                try:
                    s.recv(4096)
                except OSError:
                    pass
        finally:
            s.close()

    def sparql(query):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/sparql", query, {"Content-Type": "application/sparql-query"})
        conn.getresponse().read()
        conn.close()

    yield lambda: raw(b"POST /ask HTTP/1.1\r\nHost: x\r\n")  # stalls in the headers
    yield lambda: raw(b"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    yield lambda: raw(b"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n{}")
    yield lambda: raw(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", wait=5.0)  # idle keep-alive
    yield lambda: raw(b"\x16\x03\x01garbage\r\n\r\n")
    for q in (DEEP, CROSS, CLOSURE, AMPLIFY, SERVICE):
        yield lambda q=q: sparql(q)
    q = urllib.parse.quote("SELECT * WHERE " + "{" * 1000 + "}" * 1000)
    yield lambda: raw(f"GET /sparql?query={q} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


def attacker(port, stop, sent):
    while not stop.is_set():
        for attack in attacks(port):
            if stop.is_set():
                return
            try:
                attack()
            except Exception:  # noqa: BLE001 - refusals and cut connections are expected
                pass
            sent.append(1)


def run(port, pid, bodies, clients, seconds, attackers):
    stop = threading.Event()
    lat, errors, sent = [], [], []
    before = rss_mib(pid)
    threads = [threading.Thread(target=asker, args=(port, bodies, stop, lat, errors))
               for _ in range(clients)]
    threads += [threading.Thread(target=attacker, args=(port, stop, sent))
                for _ in range(attackers)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    after = rss_mib(pid)
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")  # noqa: E731
    return {"clients": clients, "attackers": attackers, "qps": len(lat) / seconds,
            "p50": p(0.5), "p99": p(0.99), "errors": len(errors),
            "error_kinds": sorted({str(e) for e in errors}), "attacks": len(sent),
            "rss_before": before, "rss_after": after}


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    bodies = questions(sys.argv[3], sys.argv[4])
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 60
    counts = [int(c) for c in (sys.argv[6] if len(sys.argv) > 6 else "1,8,32").split(",")]
    print("| clients | attackers | q/s | p50 ms | p99 ms | errors | hostile requests | RSS MiB before -> after | p99 attacked / quiet |")
    print("|---|---|---|---|---|---|---|---|---|")
    for clients in counts:
        quiet = run(port, pid, bodies, clients, seconds, 0)
        attacked = run(port, pid, bodies, clients, seconds, 2)
        for r in (quiet, attacked):
            ratio = f"{attacked['p99'] / quiet['p99']:.2f}" if r is attacked else "-"
            kinds = f" ({', '.join(r['error_kinds'])})" if r["errors"] else ""
            print(f"| {r['clients']} | {r['attackers']} | {r['qps']:.1f} | {r['p50']:.1f} | "
                  f"{r['p99']:.1f} | {r['errors']}{kinds} | {r['attacks']} | "
                  f"{r['rss_before']:.0f} -> {r['rss_after']:.0f} | {ratio} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
