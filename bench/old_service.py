"""The architecture pg_purchase replaces, rebuilt for the benchmark: a small HTTP service that
receives raw rows as JSON, scores them with pandas + scikit-learn, and answers JSON; a client
that reads rows out of PostgreSQL, posts them, and writes the answers back."""

import http.server
import json
import threading
import urllib.request


class ScoringService:
    def __init__(self, pipeline):
        pipe = pipeline

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                rows = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                p = pipe.predict_proba(rows)
                body = json.dumps(
                    [{"business_outcome": int(x > pipe.threshold), "p_hat": float(x)} for x in p]
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/score"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def score_through_service(conn, url, columns, rows, batch):
    """Read `rows` customers out, POST them in batches, write p_hat back with COPY."""
    conn.execute("DROP TABLE IF EXISTS old_service_scores")
    conn.execute("CREATE TABLE old_service_scores (customer_id bigint, p_hat float8, business_outcome int)")
    cur = conn.execute(f"SELECT customer_id, {', '.join(columns)} FROM customers ORDER BY customer_id LIMIT {rows}")
    data = cur.fetchall()
    answers = []
    for start in range(0, len(data), batch):
        chunk = data[start : start + batch]
        payload = json.dumps([dict(zip(columns, r[1:])) for r in chunk]).encode()
        request = urllib.request.Request(url, payload, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            for r, a in zip(chunk, json.loads(response.read())):
                answers.append((r[0], a["p_hat"], a["business_outcome"]))
    with conn.cursor().copy("COPY old_service_scores FROM STDIN") as copy:
        for a in answers:
            copy.write_row(a)
    return len(answers)
