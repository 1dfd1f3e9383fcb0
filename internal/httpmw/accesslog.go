package httpmw

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/google/uuid"

	"gantry/internal/httpapi"
)

// statusWriter records the status and size of a response. It forwards
// Flush and Hijack, and Unwrap lets http.ResponseController reach the
// underlying writer (SSE streaming and deadline changes rely on that).
type statusWriter struct {
	http.ResponseWriter
	state *requestState
}

func (w *statusWriter) WriteHeader(code int) {
	// 1xx responses are informational; the final status comes later.
	if w.state.status == 0 && code >= 200 {
		w.state.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.state.status == 0 {
		w.state.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.state.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if w.state.status == 0 {
		w.state.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.state.status == 0 {
		w.state.status = http.StatusSwitchingProtocols
	}
	return conn, brw, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// AccessLog writes one log line per request (method, path, status, bytes,
// duration, request id, user) and installs the logger that httpapi.Logger
// returns to handlers. That logger adds the request id to every record
// logged with the request's context, so nothing is built per request.
// Server errors are logged at warn, everything else at debug (like Coder:
// `--verbose` or a `--log-filter` shows them); a line that is not enabled
// costs one level check.
func AccessLog(base *slog.Logger) func(http.Handler) http.Handler {
	logger := slog.New(requestIDHandler{base.Handler()})
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			start := time.Now()
			st := &requestState{}
			ctx := withState(httpapi.WithLogger(r.Context(), logger), st)
			next.ServeHTTP(&statusWriter{ResponseWriter: rw, state: st}, r.WithContext(ctx))

			status := st.status
			if status == 0 {
				// The handler wrote nothing; net/http answers 200.
				status = http.StatusOK
			}
			level := slog.LevelDebug
			if status >= 500 {
				level = slog.LevelWarn
			}
			if !logger.Enabled(ctx, level) {
				return
			}
			attrs := make([]slog.Attr, 0, 10)
			attrs = append(attrs,
				slog.String(requestIDKey, httpapi.RequestID(ctx)),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int64("bytes", st.bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("remote_addr", r.RemoteAddr),
			)
			if st.userID != uuid.Nil {
				attrs = append(attrs, slog.String("user_id", st.userID.String()), slog.String("username", st.username))
			}
			logger.LogAttrs(ctx, level, "http request", attrs...)
		})
	}
}

const requestIDKey = "request_id"

// requestIDHandler adds the request id of the record's context, unless the
// record already names one.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := httpapi.RequestID(ctx); id != "" {
		has := false
		r.Attrs(func(a slog.Attr) bool {
			has = a.Key == requestIDKey
			return !has
		})
		if !has {
			r.AddAttrs(slog.String(requestIDKey, id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// Recover turns a panicking handler into a 500 (when nothing was written yet)
// and logs the panic with its stack and the request id. http.ErrAbortHandler
// is re-raised so net/http can abort the connection as intended.
func Recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			ctx := r.Context()
			httpapi.Logger(ctx).ErrorContext(ctx, "handler panic",
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()),
				"method", r.Method, "path", r.URL.Path)
			if st := stateFrom(ctx); st == nil || st.status == 0 {
				httpapi.InternalServerError(rw, r, errors.New("handler panic"))
			}
		}()
		next.ServeHTTP(rw, r)
	})
}
