package ratelimit

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/rs/zerolog"
)

// logPathBytesMax bounds the path a log line quotes.
const logPathBytesMax = 256

// Log logs one line per request (log_requests): method, quoted path,
// status, duration and client IP, as
//
//	admin: GET "/api/v1/topics" 200 1.234ms client=10.0.0.7
//
// The client IP is the one the Limiter used (trusted-proxy aware) when
// its Middleware runs inside Log, else the TCP peer's. A handler that
// panics through Log is logged with status "aborted". Lines go to log at
// info level. Disabled, or with a logger at zerolog.Disabled (such as
// zerolog.Nop()), it returns next itself.
func Log(log zerolog.Logger, enabled bool) func(http.Handler) http.Handler {
	if !enabled || log.GetLevel() == zerolog.Disabled {
		return func(next http.Handler) http.Handler { return next }
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			slot := &logSlot{}
			r = r.WithContext(context.WithValue(r.Context(), logSlotKey{}, slot))
			sw := &StatusWriter{ResponseWriter: w}
			done := false
			defer func() {
				status := "aborted"
				if done {
					status = strconv.Itoa(sw.Status())
				}
				ip := slot.clientIP
				if !slot.set {
					ip = parseHop(r.RemoteAddr)
				}
				log.Info().Msgf("admin: %s %s %s %s client=%s", r.Method, quotePath(r.URL.Path), status,
					time.Since(start).Round(time.Microsecond), ipString(ip))
			}()
			next.ServeHTTP(sw, r)
			done = true
		})
	}
}

// logSlot carries the Limiter's client IP out to Log.
type logSlot struct {
	clientIP netip.Addr
	set      bool
}

type logSlotKey struct{}

// noteClientIP hands ip to an enclosing Log, if any.
func noteClientIP(r *http.Request, ip netip.Addr) {
	if s, ok := r.Context().Value(logSlotKey{}).(*logSlot); ok {
		s.clientIP, s.set = ip, true
	}
}

// quotePath quotes a client-supplied path, cut short, so that a log line
// stays one bounded line.
func quotePath(p string) string {
	if len(p) > logPathBytesMax {
		return strconv.Quote(p[:logPathBytesMax]) + "..."
	}
	return strconv.Quote(p)
}

// StatusWriter remembers the status a handler answered (the admin API's
// audit of writes uses it too).
type StatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *StatusWriter) WriteHeader(status int) {
	if w.status == 0 && status >= 200 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *StatusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Status is the status sent; a handler that wrote nothing sent 200.
func (w *StatusWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
