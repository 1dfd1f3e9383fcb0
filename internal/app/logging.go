package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"

	"gantry/internal/config"
)

// logSinks opens the log destinations of --log-human, --log-json and
// --log-stackdriver ("/dev/stderr" and "/dev/stdout" mean the process's
// streams; other paths are files opened for appending) and returns the
// combined logger with a function closing the files.
func newLogger(vals *config.DeploymentValues, stdout, stderr io.Writer) (*slog.Logger, func(), error) {
	var filters []*regexp.Regexp
	for _, f := range vals.Logging.Filter.Value() {
		re, err := regexp.Compile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("compile log filter %q: %w", f, err)
		}
		filters = append(filters, re)
	}
	level := slog.LevelInfo
	if vals.Verbose.Value() || len(filters) > 0 {
		level = slog.LevelDebug
	}

	var files []*os.File
	closeFiles := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	open := func(path string) (io.Writer, error) {
		switch path {
		case "/dev/stderr":
			return stderr, nil
		case "/dev/stdout":
			return stdout, nil
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("open log file: %w", err)
		}
		files = append(files, f)
		return f, nil
	}

	var handlers []slog.Handler
	sinks := []struct {
		path string
		make func(io.Writer) slog.Handler
	}{
		{vals.Logging.Human.Value(), func(w io.Writer) slog.Handler {
			return slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
		}},
		{vals.Logging.JSON.Value(), func(w io.Writer) slog.Handler {
			return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
		}},
		{vals.Logging.Stackdriver.Value(), func(w io.Writer) slog.Handler {
			return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: stackdriverAttr})
		}},
	}
	for _, s := range sinks {
		if s.path == "" {
			continue
		}
		w, err := open(s.path)
		if err != nil {
			closeFiles()
			return nil, nil, err
		}
		handlers = append(handlers, s.make(w))
	}
	var h slog.Handler
	switch len(handlers) {
	case 0:
		h = slog.DiscardHandler
	case 1:
		h = handlers[0]
	default:
		h = slog.NewMultiHandler(handlers...)
	}
	if len(filters) > 0 && !vals.Verbose.Value() {
		h = &filterHandler{next: h, filters: filters}
	}
	return slog.New(h), closeFiles, nil
}

// stackdriverAttr renames the standard fields to the names Google Cloud
// Logging reads from structured JSON (severity, message, timestamp).
func stackdriverAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.LevelKey:
		sev := "DEFAULT"
		if l, ok := a.Value.Any().(slog.Level); ok {
			switch {
			case l >= slog.LevelError:
				sev = "ERROR"
			case l >= slog.LevelWarn:
				sev = "WARNING"
			case l >= slog.LevelInfo:
				sev = "INFO"
			default:
				sev = "DEBUG"
			}
		}
		return slog.String("severity", sev)
	case slog.MessageKey:
		a.Key = "message"
	case slog.TimeKey:
		a.Key = "timestamp"
	}
	return a
}

// filterHandler implements --log-filter: debug records pass only when a
// filter matches their message or one of their attributes; records at info
// and above always pass.
type filterHandler struct {
	next    slog.Handler
	filters []*regexp.Regexp
	attrs   string // rendered attributes added with WithAttrs
}

func (h *filterHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *filterHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo {
		return h.next.Handle(ctx, r)
	}
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	text := b.String()
	for _, f := range h.filters {
		if f.MatchString(text) {
			return h.next.Handle(ctx, r)
		}
	}
	return nil
}

func (h *filterHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range as {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	return &filterHandler{next: h.next.WithAttrs(as), filters: h.filters, attrs: b.String()}
}

func (h *filterHandler) WithGroup(name string) slog.Handler {
	return &filterHandler{next: h.next.WithGroup(name), filters: h.filters, attrs: h.attrs}
}
