package aibridge

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/tidwall/gjson"
)

// A tap reads a response on the side while the relay copies it to the
// client. It never changes bytes; it may only ask the relay to drop a whole
// event (the usage chunk gantry requested on the client's behalf).
type tap interface {
	// event sees one raw SSE event and reports whether to forward it.
	event(ev []byte) bool
	// body sees a complete non-streaming JSON response.
	body(b []byte)
	// result returns what was observed so far; safe to call after a
	// partial stream.
	result() observed
}

// observed is what a tap extracted from one upstream response.
type observed struct {
	responseID string
	usage      *tokenCounts
	tools      []toolCall
	thoughts   []thought
	// streamError is the upstream's mid-stream error message, if any.
	streamError string
}

type tokenCounts struct {
	input, output, cacheRead, cacheWrite int64
	// extras are provider-specific counters, recorded as metadata.
	extras []extra
}

type extra struct {
	key string
	val int64
}

func (t *tokenCounts) setExtra(key string, v int64) {
	for i := range t.extras {
		if t.extras[i].key == key {
			t.extras[i].val = v
			return
		}
	}
	t.extras = append(t.extras, extra{key, v})
}

func (t *tokenCounts) metadata() json.RawMessage {
	if len(t.extras) == 0 {
		return nil
	}
	b := []byte{'{'}
	for i, e := range t.extras {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, e.key)
		b = append(b, ':')
		b = strconv.AppendInt(b, e.val, 10)
	}
	return append(b, '}')
}

type toolCall struct {
	id, name, args string
}

type thought struct {
	text, source string
}

func newTap(api apiKind, dropUsageChunk bool) tap {
	switch api {
	case apiMessages:
		return &anthropicTap{}
	case apiChat:
		return &chatTap{dropUsage: dropUsageChunk}
	default:
		return &responsesTap{}
	}
}

// --- Anthropic Messages ---

// tapState is what every tap gathers: the observations and the usage,
// which counts only once a usage object was seen.
type tapState struct {
	obs   observed
	usage tokenCounts
	seen  bool
}

func (s *tapState) observed() observed {
	o := s.obs
	if s.seen {
		u := s.usage
		o.usage = &u
	}
	return o
}

type anthropicTap struct {
	tapState
	blocks []anthropicBlock
}

type anthropicBlock struct {
	kind     string // tool_use, server_tool_use, thinking
	id, name string
	buf      []byte
}

var (
	evContentBlockDelta = []byte("content_block_delta")
	textDeltaMarker     = []byte(`"text_delta"`)
)

func (t *anthropicTap) event(ev []byte) bool {
	name, data := parseEvent(ev)
	// Text deltas are the bulk of a stream and carry nothing to record.
	if bytes.Equal(name, evContentBlockDelta) && bytes.Contains(data, textDeltaMarker) {
		return true
	}
	if len(name) == 0 {
		name = []byte(gjson.GetBytes(data, "type").Str)
	}
	switch string(name) {
	case "message_start":
		msg := gjson.GetBytes(data, "message")
		t.obs.responseID = msg.Get("id").Str
		t.readUsage(msg.Get("usage"))
	case "message_delta":
		t.readUsage(gjson.GetBytes(data, "usage"))
	case "content_block_start":
		idx := int(gjson.GetBytes(data, "index").Int())
		cb := gjson.GetBytes(data, "content_block")
		kind := cb.Get("type").Str
		if kind != "tool_use" && kind != "server_tool_use" && kind != "thinking" {
			return true
		}
		for len(t.blocks) <= idx && idx < 1024 {
			t.blocks = append(t.blocks, anthropicBlock{})
		}
		if idx < len(t.blocks) {
			t.blocks[idx] = anthropicBlock{kind: kind, id: cb.Get("id").Str, name: cb.Get("name").Str}
			if kind == "thinking" {
				t.blocks[idx].buf = append(t.blocks[idx].buf, cb.Get("thinking").Str...)
			}
		}
	case "content_block_delta":
		idx := int(gjson.GetBytes(data, "index").Int())
		if idx >= len(t.blocks) || t.blocks[idx].kind == "" {
			return true
		}
		d := gjson.GetBytes(data, "delta")
		switch d.Get("type").Str {
		case "input_json_delta":
			t.blocks[idx].buf = append(t.blocks[idx].buf, d.Get("partial_json").Str...)
		case "thinking_delta":
			t.blocks[idx].buf = append(t.blocks[idx].buf, d.Get("thinking").Str...)
		}
	case "content_block_stop":
		idx := int(gjson.GetBytes(data, "index").Int())
		if idx >= len(t.blocks) || t.blocks[idx].kind == "" {
			return true
		}
		b := &t.blocks[idx]
		if b.kind == "thinking" {
			if len(b.buf) > 0 {
				t.obs.thoughts = append(t.obs.thoughts, thought{text: string(b.buf), source: "thinking"})
			}
		} else {
			args := string(b.buf)
			if args == "" {
				args = "{}"
			}
			t.obs.tools = append(t.obs.tools, toolCall{id: b.id, name: b.name, args: args})
		}
		*b = anthropicBlock{}
	case "error":
		t.obs.streamError = gjson.GetBytes(data, "error.message").Str
	}
	return true
}

// readUsage merges an Anthropic usage object: message_start carries input
// and cache counts; message_delta carries the final (cumulative) output and,
// in recent API versions, the input counts again.
func (t *anthropicTap) readUsage(u gjson.Result) {
	if !u.IsObject() {
		return
	}
	t.seen = true
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "input_tokens":
			t.usage.input = v.Int()
		case "output_tokens":
			t.usage.output = v.Int()
		case "cache_read_input_tokens":
			t.usage.cacheRead = v.Int()
		case "cache_creation_input_tokens":
			t.usage.cacheWrite = v.Int()
		case "cache_creation":
			if x := v.Get("ephemeral_5m_input_tokens"); x.Exists() {
				t.usage.setExtra("cache_ephemeral_5m_input", x.Int())
			}
			if x := v.Get("ephemeral_1h_input_tokens"); x.Exists() {
				t.usage.setExtra("cache_ephemeral_1h_input", x.Int())
			}
		case "server_tool_use":
			if x := v.Get("web_search_requests"); x.Exists() {
				t.usage.setExtra("web_search_requests", x.Int())
			}
		}
		return true
	})
}

func (t *anthropicTap) body(b []byte) {
	eachTopLevel(b, func(k string, v gjson.Result) {
		switch k {
		case "id":
			t.obs.responseID = v.Str
		case "usage":
			t.readUsage(v)
		case "content":
			v.ForEach(func(_, c gjson.Result) bool {
				switch c.Get("type").Str {
				case "tool_use", "server_tool_use":
					t.obs.tools = append(t.obs.tools, toolCall{id: c.Get("id").Str, name: c.Get("name").Str, args: c.Get("input").Raw})
				case "thinking":
					if s := c.Get("thinking").Str; s != "" {
						t.obs.thoughts = append(t.obs.thoughts, thought{text: s, source: "thinking"})
					}
				}
				return true
			})
		}
	})
}

// eachTopLevel calls fn for every top-level member of a JSON object body:
// one scan, where separate lookups would each rescan the body from the start
// (the usage comes last, after the content).
func eachTopLevel(b []byte, fn func(key string, v gjson.Result)) {
	gjson.ParseBytes(b).ForEach(func(k, v gjson.Result) bool {
		fn(k.Str, v)
		return true
	})
}

func (t *anthropicTap) result() observed { return t.observed() }

// --- OpenAI Chat Completions ---

type chatTap struct {
	tapState
	dropUsage bool
	calls     []toolCall // by tool_calls index
	callBufs  [][]byte
}

var (
	doneMarker      = []byte("[DONE]")
	usageMarker     = []byte(`"usage"`)
	toolCallsMarker = []byte(`"tool_calls"`)
	errorMarker     = []byte(`"error"`)
)

func (t *chatTap) event(ev []byte) bool {
	_, data := parseEvent(ev)
	if len(data) == 0 || bytes.Equal(data, doneMarker) {
		return true
	}
	if t.obs.responseID == "" {
		t.obs.responseID = gjson.GetBytes(data, "id").Str
	}
	if bytes.Contains(data, toolCallsMarker) {
		gjson.GetBytes(data, "choices.0.delta.tool_calls").ForEach(func(_, tc gjson.Result) bool {
			idx := int(tc.Get("index").Int())
			if idx < 0 || idx > 1024 {
				return true
			}
			for len(t.calls) <= idx {
				t.calls = append(t.calls, toolCall{})
				t.callBufs = append(t.callBufs, nil)
			}
			if id := tc.Get("id").Str; id != "" {
				t.calls[idx].id = id
			}
			if n := tc.Get("function.name").Str; n != "" {
				t.calls[idx].name = n
			}
			t.callBufs[idx] = append(t.callBufs[idx], tc.Get("function.arguments").Str...)
			return true
		})
	}
	if bytes.Contains(data, usageMarker) {
		if u := gjson.GetBytes(data, "usage"); u.IsObject() {
			t.readUsage(u)
			// gantry added include_usage for its own accounting: the
			// client did not ask for this chunk and must not see it.
			if t.dropUsage {
				if ch := gjson.GetBytes(data, "choices"); !ch.Exists() || (ch.IsArray() && len(ch.Array()) == 0) {
					return false
				}
			}
		}
	}
	if bytes.Contains(data, errorMarker) {
		if e := gjson.GetBytes(data, "error"); e.IsObject() {
			t.obs.streamError = e.Get("message").Str
		}
	}
	return true
}

func (t *chatTap) readUsage(u gjson.Result) {
	t.seen = true
	prompt := u.Get("prompt_tokens").Int()
	cached := u.Get("prompt_tokens_details.cached_tokens").Int()
	t.usage.input = prompt - cached
	t.usage.cacheRead = cached
	t.usage.output = u.Get("completion_tokens").Int()
	for _, x := range [...]struct{ path, key string }{
		{"prompt_tokens_details.cached_tokens", "prompt_cached"},
		{"prompt_tokens_details.audio_tokens", "prompt_audio"},
		{"completion_tokens_details.reasoning_tokens", "completion_reasoning"},
		{"completion_tokens_details.audio_tokens", "completion_audio"},
		{"completion_tokens_details.accepted_prediction_tokens", "completion_accepted_prediction"},
		{"completion_tokens_details.rejected_prediction_tokens", "completion_rejected_prediction"},
	} {
		if v := u.Get(x.path); v.Exists() {
			t.usage.setExtra(x.key, v.Int())
		}
	}
}

func (t *chatTap) body(b []byte) {
	eachTopLevel(b, func(k string, v gjson.Result) {
		switch k {
		case "id":
			t.obs.responseID = v.Str
		case "usage":
			if v.IsObject() {
				t.readUsage(v)
			}
		case "choices":
			v.Get("0.message.tool_calls").ForEach(func(_, tc gjson.Result) bool {
				t.obs.tools = append(t.obs.tools, toolCall{id: tc.Get("id").Str, name: tc.Get("function.name").Str, args: tc.Get("function.arguments").Str})
				return true
			})
		}
	})
}

func (t *chatTap) result() observed {
	o := t.observed()
	for i, c := range t.calls {
		if c.name == "" {
			continue
		}
		c.args = string(t.callBufs[i])
		o.tools = append(o.tools[:len(o.tools):len(o.tools)], c)
	}
	return o
}

// --- OpenAI Responses ---

type responsesTap struct {
	tapState
}

var evOutputTextDelta = []byte("response.output_text.delta")

func (t *responsesTap) event(ev []byte) bool {
	name, data := parseEvent(ev)
	if bytes.Equal(name, evOutputTextDelta) {
		return true
	}
	typ := gjson.GetBytes(data, "type").Str
	switch typ {
	case "response.output_text.delta", "response.function_call_arguments.delta", "response.reasoning_summary_text.delta":
	case "response.created", "response.in_progress":
		if id := gjson.GetBytes(data, "response.id").Str; id != "" {
			t.obs.responseID = id
		}
	case "response.output_item.done":
		t.item(gjson.GetBytes(data, "item"))
	case "response.completed", "response.incomplete", "response.failed":
		resp := gjson.GetBytes(data, "response")
		if id := resp.Get("id").Str; id != "" {
			t.obs.responseID = id
		}
		t.readUsage(resp.Get("usage"))
		if typ == "response.failed" {
			t.obs.streamError = resp.Get("error.message").Str
		}
	case "error":
		t.obs.streamError = gjson.GetBytes(data, "message").Str
	}
	return true
}

// item records tool calls and thoughts from one output item.
func (t *responsesTap) item(it gjson.Result) {
	switch it.Get("type").Str {
	case "function_call":
		t.obs.tools = append(t.obs.tools, toolCall{id: it.Get("call_id").Str, name: it.Get("name").Str, args: it.Get("arguments").Str})
	case "custom_tool_call":
		t.obs.tools = append(t.obs.tools, toolCall{id: it.Get("call_id").Str, name: it.Get("name").Str, args: it.Get("input").Str})
	case "reasoning":
		it.Get("summary").ForEach(func(_, s gjson.Result) bool {
			if txt := s.Get("text").Str; txt != "" {
				t.obs.thoughts = append(t.obs.thoughts, thought{text: txt, source: "reasoning_summary"})
			}
			return true
		})
	case "message":
		if it.Get("phase").Str == "commentary" {
			it.Get("content").ForEach(func(_, c gjson.Result) bool {
				if txt := c.Get("text").Str; txt != "" {
					t.obs.thoughts = append(t.obs.thoughts, thought{text: txt, source: "commentary"})
				}
				return true
			})
		}
	}
}

func (t *responsesTap) readUsage(u gjson.Result) {
	if !u.IsObject() {
		return
	}
	t.seen = true
	in := u.Get("input_tokens").Int()
	cached := u.Get("input_tokens_details.cached_tokens").Int()
	t.usage.input = in - cached
	t.usage.cacheRead = cached
	t.usage.output = u.Get("output_tokens").Int()
	t.usage.setExtra("input_cached", cached)
	if v := u.Get("output_tokens_details.reasoning_tokens"); v.Exists() {
		t.usage.setExtra("output_reasoning", v.Int())
	}
	if v := u.Get("total_tokens"); v.Exists() {
		t.usage.setExtra("total_tokens", v.Int())
	}
}

func (t *responsesTap) body(b []byte) {
	eachTopLevel(b, func(k string, v gjson.Result) {
		switch k {
		case "id":
			t.obs.responseID = v.Str
		case "usage":
			t.readUsage(v)
		case "output":
			v.ForEach(func(_, it gjson.Result) bool {
				t.item(it)
				return true
			})
		}
	})
}

func (t *responsesTap) result() observed { return t.observed() }
