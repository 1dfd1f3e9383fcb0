package aibridge

import (
	"bytes"
	"sync"
)

// eventEnd returns the length of the first complete SSE event in b,
// including the blank line that ends it, or -1 when b holds no complete
// event. Both LF and CRLF line endings are accepted.
func eventEnd(b []byte, from int) int {
	i := from
	for {
		k := bytes.IndexByte(b[i:], '\n')
		if k < 0 {
			return -1
		}
		j := i + k + 1
		if j < len(b) && b[j] == '\n' {
			return j + 1
		}
		if j+1 < len(b) && b[j] == '\r' && b[j+1] == '\n' {
			return j + 2
		}
		i = j
	}
}

// parseEvent returns the event name and data of one raw SSE event. Several
// data lines are joined with "\n" (the only case that allocates).
func parseEvent(ev []byte) (name, data []byte) {
	multi := false
	for len(ev) > 0 {
		var line []byte
		if i := bytes.IndexByte(ev, '\n'); i >= 0 {
			line, ev = ev[:i], ev[i+1:]
		} else {
			line, ev = ev, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		switch {
		case bytes.HasPrefix(line, []byte("data:")):
			v := trimField(line[5:])
			if data == nil {
				data = v
			} else {
				if !multi {
					data = append([]byte(nil), data...)
					multi = true
				}
				data = append(append(data, '\n'), v...)
			}
		case bytes.HasPrefix(line, []byte("event:")):
			name = trimField(line[6:])
		}
	}
	return name, data
}

func trimField(v []byte) []byte {
	if len(v) > 0 && v[0] == ' ' {
		return v[1:]
	}
	return v
}

// Relay buffers are pooled: a stream holds one for its lifetime, so its size
// is a direct per-stream memory cost. 2 KiB holds a few typical events
// (deltas are a few hundred bytes, and the upstream flushes them one by
// one); an event larger than the buffer grows it for that stream only
// (grown buffers are not pooled).
const relayBufSize = 2 << 10

var relayBufPool = sync.Pool{New: func() any { return newRelayBuf() }}

func newRelayBuf() *[]byte {
	b := make([]byte, relayBufSize)
	return &b
}

// getRelayBuf takes a relay buffer from the pool. Only *[]byte values are
// ever put back, so the fallback allocation never happens in practice; it
// keeps a wrong pool value from panicking a relay.
func getRelayBuf() *[]byte {
	if bp, ok := relayBufPool.Get().(*[]byte); ok {
		return bp
	}
	return newRelayBuf()
}
