// Package sse is the benchmark's streaming client: net/http plus bufio,
// timestamping the response headers, the first content event, every event
// and the end of the stream, so time-to-first-token and per-event gaps can
// be compared between a direct and a proxied stream.
package sse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"gantry/internal/aibridge/mockupstream"
)

// Trace is the timeline of one stream, as offsets from the request start.
type Trace struct {
	Status int
	// Headers is when the response headers arrived.
	Headers time.Duration
	// FirstContent is when the first content event completed (0 if none).
	FirstContent time.Duration
	// Events holds the completion time of every event, content or not.
	Events []time.Duration
	// Content holds the completion time of every content event.
	Content []time.Duration
	// Transit holds, for each content event that carries the mock's send
	// stamp (X-Mock-Stamp), its arrival minus its send time on the wall
	// clock both processes share.
	Transit []time.Duration
	End     time.Duration
	// Usage is the data of the last event carrying a "usage" object, if any.
	Usage []byte
	// ContentType of the response.
	ContentType string
	// Body holds the response body when it was not an event stream (an
	// error), truncated to 4 KiB.
	Body []byte
}

// Gaps returns the gaps between consecutive content events.
func (t *Trace) Gaps() []time.Duration {
	if len(t.Content) < 2 {
		return nil
	}
	g := make([]time.Duration, len(t.Content)-1)
	for i := 1; i < len(t.Content); i++ {
		g[i-1] = t.Content[i] - t.Content[i-1]
	}
	return g
}

// IsContent reports whether an event carries model output (text, tool
// arguments or thinking) in any of the three shapes: Anthropic
// content_block_delta, Responses *.delta events, or a Chat Completions
// chunk with non-empty content or tool-call arguments.
func IsContent(event string, data []byte) bool {
	switch {
	case event == "content_block_delta":
		return true
	case len(event) > 6 && event[len(event)-6:] == ".delta":
		return true
	case event != "" && event != "message":
		return false
	}
	// Chat Completions: unnamed events.
	if bytes.Contains(data, []byte(`"content":"`)) && !bytes.Contains(data, []byte(`"content":""`)) {
		return true
	}
	return bytes.Contains(data, []byte(`"arguments":"`)) && !bytes.Contains(data, []byte(`"arguments":""`))
}

// Do sends req and reads the whole stream, bounded by ctx. A non-2xx
// status is not an error: the trace carries it with the body. onFirst, when
// not nil, is called once when the first content event arrives (to know
// when many concurrent streams are all open).
func Do(ctx context.Context, c *http.Client, req *http.Request, onFirst func()) (*Trace, error) {
	req = req.WithContext(ctx)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	t := &Trace{Status: resp.StatusCode, Headers: time.Since(start), ContentType: resp.Header.Get("Content-Type")}
	if resp.StatusCode/100 != 2 || !bytes.HasPrefix([]byte(t.ContentType), []byte("text/event-stream")) {
		t.Body, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
		_, _ = io.Copy(io.Discard, resp.Body)
		t.End = time.Since(start)
		return t, nil
	}
	err = read(resp.Body, start, t, onFirst)
	t.End = time.Since(start)
	return t, err
}

var (
	prefixData  = []byte("data:")
	prefixEvent = []byte("event:")
	usageKey    = []byte(`"usage"`)
)

func read(body io.Reader, start time.Time, t *Trace, onFirst func()) error {
	br := bufio.NewReaderSize(body, 64<<10)
	// Arrival on the wall clock: start's wall reading plus the monotonic
	// time since.
	startWall := start.UnixNano()
	var (
		event string
		data  []byte
		have  bool
	)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A data line longer than the buffer: keep reading it.
			rest, err2 := br.ReadBytes('\n')
			line = append(append([]byte(nil), line...), rest...)
			err = err2
		}
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read stream: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if have {
				at := time.Since(start)
				t.Events = append(t.Events, at)
				if IsContent(event, data) {
					t.Content = append(t.Content, at)
					if sent, ok := mockupstream.ParseStamp(data); ok {
						t.Transit = append(t.Transit, time.Duration(startWall+int64(at)-sent))
					}
					if t.FirstContent == 0 {
						t.FirstContent = at
						if onFirst != nil {
							onFirst()
						}
					}
				}
				if bytes.Contains(data, usageKey) {
					t.Usage = append(t.Usage[:0], data...)
				}
			}
			event, data, have = "", data[:0], false
		case bytes.HasPrefix(line, prefixData):
			v := bytes.TrimPrefix(line[len(prefixData):], []byte(" "))
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, v...)
			have = true
		case bytes.HasPrefix(line, prefixEvent):
			event = string(bytes.TrimSpace(line[len(prefixEvent):]))
			have = true
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read stream: %w", err)
		}
	}
}
