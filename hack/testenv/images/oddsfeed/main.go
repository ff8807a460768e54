// oddsfeed: an odds feed in The Odds API v4 shape for the end-to-end test, served from a pod.
//
//	GET  /v4/sports/{sport}/odds?apiKey=...&regions=...&markets=h2h,spreads,totals&bookmakers=...
//	POST /control/fail?books=draftkings,fanduel   those books' requests now answer 503 (empty: none)
//	GET  /healthz
//
// Eight games kick off 26 hours after the server starts and every three hours after that. Each
// bookmaker prices them from the same fair probabilities with its own margin; "pinnacle" is sharp
// (2.5 %), "fanduel" and "draftkings" keep 4.5 % but lean towards the favourite, so the away side
// carries positive expected value against the sharp book's margin-free price. Every response
// stamps last_update with the request time, so quotes are always fresh.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
)

type outcome struct {
	Name  string   `json:"name"`
	Price int      `json:"price"`
	Point *float64 `json:"point,omitempty"`
}

type market struct {
	Key        string    `json:"key"`
	LastUpdate string    `json:"last_update"`
	Outcomes   []outcome `json:"outcomes"`
}

type bookmaker struct {
	Key        string   `json:"key"`
	Title      string   `json:"title"`
	LastUpdate string   `json:"last_update"`
	Markets    []market `json:"markets"`
}

type event struct {
	ID           string      `json:"id"`
	SportKey     string      `json:"sport_key"`
	SportTitle   string      `json:"sport_title"`
	CommenceTime string      `json:"commence_time"`
	HomeTeam     string      `json:"home_team"`
	AwayTeam     string      `json:"away_team"`
	Bookmakers   []bookmaker `json:"bookmakers"`
}

type book struct {
	key, title string
	margin     float64 // overround, e.g. 0.045
	lean       float64 // implied probability moved from the away side to the home side
}

var books = []book{
	{"pinnacle", "Pinnacle", 0.025, 0},
	{"fanduel", "FanDuel", 0.045, 0.045},
	{"draftkings", "DraftKings", 0.045, 0.04},
}

var games = [][2]string{ // home, away
	{"Kansas City Chiefs", "Baltimore Ravens"}, {"Philadelphia Eagles", "Green Bay Packers"},
	{"Buffalo Bills", "Arizona Cardinals"}, {"Cincinnati Bengals", "New England Patriots"},
	{"Detroit Lions", "Los Angeles Rams"}, {"San Francisco 49ers", "New York Jets"},
	{"Dallas Cowboys", "Cleveland Browns"}, {"Houston Texans", "Indianapolis Colts"},
}

// american turns an implied probability into American odds.
func american(q float64) int {
	d := 1 / q
	if d >= 2 {
		return int(math.Round((d - 1) * 100))
	}
	return int(math.Round(-100 / (d - 1)))
}

// pair prices two exclusive outcomes of fair probabilities p and 1-p at a book.
func pair(b book, p float64) (int, int) {
	first := p*(1+b.margin) + b.lean
	second := (1-p)*(1+b.margin) - b.lean
	return american(first), american(second)
}

func events(start time.Time, now time.Time, wanted map[string]bool, markets map[string]bool) []event {
	stamp := now.UTC().Format(time.RFC3339)
	out := make([]event, 0, len(games))
	for i, g := range games {
		pHome := 0.38 + 0.04*float64((i*7)%7) // 0.38 .. 0.62
		spread := -math.Round((pHome-0.5)*28) - 0.5
		ev := event{
			ID: fmt.Sprintf("e2e%05d", i), SportKey: "americanfootball_nfl", SportTitle: "NFL",
			CommenceTime: start.Add(26*time.Hour + time.Duration(i)*3*time.Hour).UTC().Format(time.RFC3339),
			HomeTeam:     g[0], AwayTeam: g[1],
		}
		for _, b := range books {
			if len(wanted) > 0 && !wanted[b.key] {
				continue
			}
			bm := bookmaker{Key: b.key, Title: b.title, LastUpdate: stamp}
			if markets["h2h"] {
				h, a := pair(b, pHome)
				bm.Markets = append(bm.Markets, market{"h2h", stamp, []outcome{{g[1], a, nil}, {g[0], h, nil}}})
			}
			if markets["spreads"] {
				hp, ap := spread, -spread
				h, a := pair(b, 0.5)
				bm.Markets = append(bm.Markets, market{"spreads", stamp, []outcome{{g[1], a, &ap}, {g[0], h, &hp}}})
			}
			if markets["totals"] {
				t := 41.5 + float64(i)
				o, u := pair(book{b.key, b.title, b.margin, b.lean / 2}, 0.5)
				bm.Markets = append(bm.Markets, market{"totals", stamp, []outcome{{"Over", o, &t}, {"Under", u, &t}}})
			}
			ev.Bookmakers = append(ev.Bookmakers, bm)
		}
		out = append(out, ev)
	}
	return out
}

func set(csv string) map[string]bool {
	m := map[string]bool{}
	for _, s := range strings.Split(csv, ",") {
		if s = strings.TrimSpace(s); s != "" {
			m[s] = true
		}
	}
	return m
}

func main() {
	listen := flag.String("listen", ":8080", "address to listen on")
	flag.Parse()
	start := time.Now().Truncate(time.Hour)
	var mu sync.Mutex
	failing := map[string]bool{}
	requests := 0

	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	http.HandleFunc("/control/fail", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		mu.Lock()
		failing = set(r.URL.Query().Get("books"))
		mu.Unlock()
		log.Printf("failing books: %v", r.URL.Query().Get("books"))
		io.WriteString(w, "ok")
	})
	http.HandleFunc("/v4/sports/", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("apiKey") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"message":"API key is missing"}`)
			return
		}
		wanted := set(q.Get("bookmakers"))
		mu.Lock()
		requests++
		used := requests
		fail := false
		for b := range wanted {
			fail = fail || failing[b]
		}
		mu.Unlock()
		w.Header().Set("x-requests-used", fmt.Sprint(used))
		w.Header().Set("x-requests-remaining", fmt.Sprint(100000-used))
		w.Header().Set("x-requests-last", "1")
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"message":"upstream unavailable"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(events(start, time.Now(), wanted, set(q.Get("markets"))))
	})
	log.Printf("listening on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
