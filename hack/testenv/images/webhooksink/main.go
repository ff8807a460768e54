// webhooksink: a Slack- and PagerDuty-compatible webhook receiver for the end-to-end test. It
// answers every POST like Slack does ("ok") and keeps the last 1000 messages in memory;
// GET /messages returns them as a JSON array of {path, body}, GET /healthz answers 200.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"sync"
)

type message struct {
	Path string          `json:"path"`
	Body json.RawMessage `json:"body"`
}

func main() {
	listen := flag.String("listen", ":8080", "address to listen on")
	flag.Parse()
	var mu sync.Mutex
	var msgs []message
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	http.HandleFunc("/messages", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(append([]message{}, msgs...))
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || !json.Valid(body) {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		mu.Lock()
		msgs = append(msgs, message{Path: r.URL.Path, Body: body})
		if len(msgs) > 1000 {
			msgs = msgs[len(msgs)-1000:]
		}
		mu.Unlock()
		log.Printf("received %d bytes on %s", len(body), r.URL.Path)
		io.WriteString(w, "ok")
	})
	log.Printf("listening on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
