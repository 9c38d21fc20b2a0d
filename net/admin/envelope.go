package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"

	"github.com/weirmq/weir/sm"
)

// envelope is the reference's ApiResponse: every answer, success or not,
// has all four keys. Error and LeaderHint are null when unset; Data is null
// on failure.
type envelope struct {
	Success    bool    `json:"success"`
	Data       any     `json:"data"`
	Error      *string `json:"error"`
	LeaderHint *string `json:"leader_hint"`
}

// controllerName and brokerName render node IDs as the reference does
// ("controller-1", "broker-101"); they are also the CommonNames of the
// nodes' certificates (net/tlsutil). The role comes from the field, not
// from the ID's range.
func controllerName(id sm.NodeID) string { return "controller-" + strconv.FormatUint(uint64(id), 10) }
func brokerName(id sm.NodeID) string     { return "broker-" + strconv.FormatUint(uint64(id), 10) }

// leaderHint is the envelope's leader_hint: null when no leader is known.
func leaderHint(leader sm.NodeID) *string {
	if leader == sm.NoNode {
		return nil
	}
	return new(controllerName(leader))
}

// succeed answers status with data.
func succeed(w http.ResponseWriter, status int, data any, leader sm.NodeID) {
	writeEnvelope(w, status, envelope{Success: true, Data: data, LeaderHint: leaderHint(leader)})
}

// fail answers status with an error message. A 503 also says when to retry.
func fail(w http.ResponseWriter, status int, msg string, leader sm.NodeID) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeEnvelope(w, status, envelope{Error: &msg, LeaderHint: leaderHint(leader)})
}

func writeEnvelope(w http.ResponseWriter, status int, env envelope) {
	body, err := json.Marshal(env)
	if err != nil {
		// Data is always one of this package's plain structs.
		panic(fmt.Sprintf("admin: encoding envelope: %v", err))
	}
	writeJSON(w, status, append(body, '\n'))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body) // a client that left is not an error
}

// onNotFound answers every path outside the API.
func onNotFound(w http.ResponseWriter, r *http.Request) {
	fail(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, quoteBounded(r.URL.Path)), sm.NoNode)
}

// methodNotAllowed answers a known path asked with a method it does not
// serve.
func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		fail(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (allowed: %s)", quoteBounded(r.Method), r.Pattern, allow), sm.NoNode)
	}
}

// limitBodies bounds every request body. It wraps net/http's own writer,
// before any middleware can wrap it, so that net/http closes the
// connection after an oversized body instead of draining it.
func limitBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, bodyBytesMax)
		h.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic in a handler into a logged 500, so no request
// can take the controller down. http.ErrAbortHandler keeps its meaning.
func (s *Server) recoverPanics(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &writeTracker{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.cfg.Log.Error().Str("stack", string(debug.Stack())).Msgf("admin: panic serving %s %s: %v", r.Method, r.URL.Path, v)
			if !sw.wrote {
				fail(sw, http.StatusInternalServerError, "internal error (logged by the controller); for a write the outcome is unknown", sm.NoNode)
			}
		}()
		h.ServeHTTP(sw, r)
	})
}

// writeTracker remembers whether the header went out, so a recovered panic
// answers only when it still can.
type writeTracker struct {
	http.ResponseWriter
	wrote bool
}

func (w *writeTracker) WriteHeader(status int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *writeTracker) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *writeTracker) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// quoteBounded quotes client-supplied text for an error message, cut to a
// length that fits any valid topic name, so a huge path is not echoed.
func quoteBounded(s string) string {
	const quotedBytesMax = 256
	if len(s) > quotedBytesMax {
		return strconv.Quote(s[:quotedBytesMax]) + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return strconv.Quote(s)
}
