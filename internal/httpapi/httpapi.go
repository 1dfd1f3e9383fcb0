// Package httpapi is gantry's one response vocabulary for the /api/v2 JSON
// API: writing JSON, reading and validating request bodies, and the canonical
// error responses with Coder's exact messages.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"gantry/sdk"
)

// Canonical messages that clients match on.
const (
	MsgRouteNotFound    = "Route not found."
	MsgResourceNotFound = "Resource not found or you do not have access to this resource"
	MsgForbidden        = "Forbidden."
	MsgForbiddenDetail  = "You don't have permission to view this content. If you believe this is a mistake, please contact your administrator or try signing in with different credentials."
	MsgInternal         = "An internal server error occurred."
	MsgInvalidJSON      = "Request body must be valid JSON."
	MsgValidation       = "Validation failed."
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Write encodes v as JSON with the given status. Encoding happens into a
// pooled buffer first, so a marshalling error still yields a clean 500.
func Write(ctx context.Context, rw http.ResponseWriter, status int, v any) {
	buf, ok := bufPool.Get().(*bytes.Buffer)
	if !ok {
		// Unreachable: the pool only ever holds *bytes.Buffer.
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= 64<<10 {
			buf.Reset()
			bufPool.Put(buf)
		}
	}()
	buf.Reset()
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		logger(ctx).ErrorContext(ctx, "encode response", "error", err)
		buf.Reset()
		_ = json.NewEncoder(buf).Encode(sdk.Response{Message: MsgInternal})
		status = http.StatusInternalServerError
	}
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	rw.WriteHeader(status)
	_, _ = rw.Write(buf.Bytes())
}

// WriteRaw writes pre-encoded JSON bytes.
func WriteRaw(rw http.ResponseWriter, status int, body []byte) {
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	rw.WriteHeader(status)
	_, _ = rw.Write(body)
}

// RouteNotFound answers 404 "Route not found.".
func RouteNotFound(rw http.ResponseWriter, r *http.Request) {
	Write(r.Context(), rw, http.StatusNotFound, sdk.Response{Message: MsgRouteNotFound})
}

// ResourceNotFound answers a deliberately vague 404.
func ResourceNotFound(rw http.ResponseWriter, r *http.Request) {
	Write(r.Context(), rw, http.StatusNotFound, sdk.Response{Message: MsgResourceNotFound})
}

// Forbidden answers Coder's canonical 403.
func Forbidden(rw http.ResponseWriter, r *http.Request) {
	Write(r.Context(), rw, http.StatusForbidden, sdk.Response{Message: MsgForbidden, Detail: MsgForbiddenDetail})
}

// InternalServerError logs err with the request id and answers 500 without
// exposing the internal error text.
func InternalServerError(rw http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	id := RequestID(ctx)
	logger(ctx).ErrorContext(ctx, "internal server error", "error", err, "request_id", id, "method", r.Method, "path", r.URL.Path)
	resp := sdk.Response{Message: MsgInternal}
	if id != "" {
		resp.Detail = "request id: " + id
	}
	Write(ctx, rw, http.StatusInternalServerError, resp)
}

// MaxBodyBytes bounds every JSON request body read by Read.
const MaxBodyBytes = 1 << 20

// Read decodes a JSON body into v (at most MaxBodyBytes). On failure it has
// already answered 400 (or 413) and returns false.
func Read(rw http.ResponseWriter, r *http.Request, v any) bool {
	ctx := r.Context()
	body := http.MaxBytesReader(rw, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			Write(ctx, rw, http.StatusRequestEntityTooLarge, sdk.Response{
				Message: "Request body too large.",
				Detail:  "The request body must not exceed 1048576 bytes.",
			})
			return false
		}
		Write(ctx, rw, http.StatusBadRequest, sdk.Response{Message: MsgInvalidJSON, Detail: err.Error()})
		return false
	}
	return true
}

// Validation answers 400 "Validation failed." with the given field problems.
func Validation(rw http.ResponseWriter, r *http.Request, v ...sdk.ValidationError) {
	Write(r.Context(), rw, http.StatusBadRequest, sdk.Response{Message: MsgValidation, Validations: v})
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	loggerKey
)

// WithRequestID stores the request id in ctx.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id stored by WithRequestID, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// WithLogger stores a request-scoped logger in ctx.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey, l)
}

func logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// Logger returns the request-scoped logger, or slog.Default().
func Logger(ctx context.Context) *slog.Logger { return logger(ctx) }
