#!/usr/bin/env python3
"""A local sample odds feed for `make demo`, shaped like The Odds API v4
(`GET /v4/sports/{sport}/odds`). Timestamps are always fresh; each bookmaker's prices differ a
little, so a consensus model finds edges. Listens on 127.0.0.1 only. No dependencies.

Usage: feed.py PORT_FILE   (binds a free port and writes it to PORT_FILE)
"""
import json
import sys
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

GAMES = [
    # home, away, home moneyline, away moneyline, home spread, total
    ("Kansas City Chiefs", "Buffalo Bills", -135, 115, -2.5, 47.5),
    ("Philadelphia Eagles", "Dallas Cowboys", -220, 180, -5.5, 45.5),
    ("Detroit Lions", "Green Bay Packers", -150, 128, -3.0, 50.5),
    ("San Francisco 49ers", "Seattle Seahawks", -190, 160, -4.5, 43.5),
]

# Per-book adjustments (American points): the "sharp" book is close to fair, DraftKings shades
# both sides, FanDuel is generous on underdogs (where the demo model finds its edges).
SHADE = {"pinnacle": (0, 0), "draftkings": (-8, -6), "fanduel": (6, 30)}


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def outcomes_h2h(home, away, hml, aml, shade):
    return [{"name": home, "price": hml + shade[0]}, {"name": away, "price": aml + shade[1]}]


def payload(books):
    now = datetime.now(timezone.utc)
    events = []
    for i, (home, away, hml, aml, spread, total) in enumerate(GAMES):
        kickoff = now + timedelta(days=2, hours=i * 3)
        bms = []
        for b in books:
            shade = SHADE.get(b, (0, 0))
            bms.append({
                "key": b,
                "title": b.title(),
                "last_update": iso(now),
                "markets": [
                    {"key": "h2h", "last_update": iso(now), "outcomes": outcomes_h2h(home, away, hml, aml, shade)},
                    {"key": "spreads", "last_update": iso(now), "outcomes": [
                        {"name": home, "price": -110 + shade[0] // 2, "point": spread},
                        {"name": away, "price": -110 + shade[1] // 2, "point": -spread},
                    ]},
                    {"key": "totals", "last_update": iso(now), "outcomes": [
                        {"name": "Over", "price": -108, "point": total},
                        {"name": "Under", "price": -112, "point": total},
                    ]},
                ],
            })
        events.append({
            "id": f"demo{i:04d}",
            "sport_key": "americanfootball_nfl",
            "sport_title": "NFL",
            "commence_time": iso(kickoff),
            "home_team": home,
            "away_team": away,
            "bookmakers": bms,
        })
    return events


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        if not url.path.startswith("/v4/sports/") or not url.path.endswith("/odds"):
            self.send_error(404)
            return
        q = parse_qs(url.query)
        if not q.get("apiKey"):
            self.send_error(401, "missing apiKey")
            return
        books = (q.get("bookmakers") or ["pinnacle,draftkings,fanduel"])[0].split(",")
        body = json.dumps(payload(books)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-requests-remaining", "499")
        self.send_header("x-requests-used", "1")
        self.send_header("x-requests-last", "3")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1], "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()
