package mockupstream

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

type apiKind int

const (
	apiMessages apiKind = iota + 1
	apiChat
	apiResponses
)

// Fixed content the mock produces, so tests can assert what was recorded.
const (
	ToolName      = "get_weather"
	ToolArguments = `{"location":"Paris","unit":"celsius"}`
	ThinkingText  = "The user wants a short answer; I will keep it brief."
)

// gen produces the events and bodies of one response.
type gen struct {
	api        apiKind
	model      string
	id         string
	itemID     string
	toolCallID string
	created    int64
	usage      Usage
	k          Knobs
	text       string // one content delta
	seq        int64
}

func newGen(api apiKind, model string, seq int64, bodyLen int, k Knobs) *gen {
	s := strconv.FormatInt(seq, 10)
	g := &gen{api: api, model: model, k: k, seq: seq, created: time.Now().Unix()}
	switch api {
	case apiMessages:
		g.id, g.toolCallID = "msg_mock_"+s, "toolu_mock_"+s
	case apiChat:
		g.id, g.toolCallID = "chatcmpl-mock-"+s, "call_mock_"+s
	case apiResponses:
		g.id, g.toolCallID, g.itemID = "resp_mock_"+s, "call_mock_"+s, "msg_mock_"+s
	}
	g.text = strings.Repeat("lorem ipsum ", k.ChunkBytes/12+1)[:k.ChunkBytes]
	base := int64(bodyLen/4 + 1)
	g.usage.Input = base
	g.usage.CacheRead = base/2 + 3
	per := int64(max(1, k.ChunkBytes/4))
	g.usage.Output = int64(k.Chunks)*per + 1
	if k.Scenario.Tool {
		g.usage.Output += 9
	}
	if k.Scenario.Thinking {
		g.usage.Reasoning = 11
		g.usage.Output += 11
	}
	if api == apiMessages {
		g.usage.CacheWrite = base/3 + 2
	} else {
		// OpenAI reports prompt tokens including the cached part.
		g.usage.Input += g.usage.CacheRead
	}
	return g
}

func sse(event string, v any) []byte {
	b, _ := json.Marshal(v)
	var out []byte
	if event != "" {
		out = append(out, "event: "...)
		out = append(out, event...)
		out = append(out, '\n')
	}
	out = append(out, "data: "...)
	out = append(out, b...)
	return append(out, '\n', '\n')
}

type obj = map[string]any

// --- Anthropic Messages ---

func (g *gen) anthropicUsage(output int64) obj {
	return obj{
		"input_tokens":                g.usage.Input,
		"cache_creation_input_tokens": g.usage.CacheWrite,
		"cache_read_input_tokens":     g.usage.CacheRead,
		"output_tokens":               output,
		"cache_creation":              obj{"ephemeral_5m_input_tokens": g.usage.CacheWrite, "ephemeral_1h_input_tokens": 0},
		"service_tier":                "standard",
	}
}

func (g *gen) stopReason() string {
	if g.k.Scenario.Tool {
		if g.api == apiChat {
			return "tool_calls"
		}
		return "tool_use"
	}
	if g.api == apiChat {
		return "stop"
	}
	return "end_turn"
}

// textIndex is the content block / output index of the text part.
func (g *gen) textIndex() int {
	if g.k.Scenario.Thinking {
		return 1
	}
	return 0
}

func (g *gen) prelude() [][]byte {
	switch g.api {
	case apiMessages:
		evs := [][]byte{sse("message_start", obj{"type": "message_start", "message": obj{
			"id": g.id, "type": "message", "role": "assistant", "model": g.model, "content": []any{},
			"stop_reason": nil, "stop_sequence": nil, "usage": g.anthropicUsage(1),
		}})}
		if g.k.Scenario.Thinking {
			evs = append(evs,
				sse("content_block_start", obj{"type": "content_block_start", "index": 0, "content_block": obj{"type": "thinking", "thinking": "", "signature": ""}}),
				sse("content_block_delta", obj{"type": "content_block_delta", "index": 0, "delta": obj{"type": "thinking_delta", "thinking": ThinkingText}}),
				sse("content_block_delta", obj{"type": "content_block_delta", "index": 0, "delta": obj{"type": "signature_delta", "signature": "c2lnbmF0dXJl"}}),
				sse("content_block_stop", obj{"type": "content_block_stop", "index": 0}),
			)
		}
		evs = append(evs,
			sse("content_block_start", obj{"type": "content_block_start", "index": g.textIndex(), "content_block": obj{"type": "text", "text": ""}}),
			sse("ping", obj{"type": "ping"}),
		)
		return evs
	case apiChat:
		return [][]byte{sse("", g.chatChunk(obj{"role": "assistant", "content": ""}, nil))}
	default:
		evs := [][]byte{
			sse("response.created", obj{"type": "response.created", "sequence_number": 0, "response": g.responseObj("in_progress", nil, false)}),
			sse("response.in_progress", obj{"type": "response.in_progress", "sequence_number": 1, "response": g.responseObj("in_progress", nil, false)}),
		}
		if g.k.Scenario.Thinking {
			item := g.reasoningItem()
			evs = append(evs,
				sse("response.output_item.added", obj{"type": "response.output_item.added", "sequence_number": 2, "output_index": 0, "item": obj{"id": "rs_mock", "type": "reasoning", "summary": []any{}}}),
				sse("response.reasoning_summary_text.delta", obj{"type": "response.reasoning_summary_text.delta", "sequence_number": 3, "item_id": "rs_mock", "output_index": 0, "summary_index": 0, "delta": ThinkingText}),
				sse("response.output_item.done", obj{"type": "response.output_item.done", "sequence_number": 4, "output_index": 0, "item": item}),
			)
		}
		evs = append(evs,
			sse("response.output_item.added", obj{"type": "response.output_item.added", "sequence_number": 5, "output_index": g.textIndex(), "item": obj{"id": g.itemID, "type": "message", "status": "in_progress", "role": "assistant", "content": []any{}}}),
			sse("response.content_part.added", obj{"type": "response.content_part.added", "sequence_number": 6, "item_id": g.itemID, "output_index": g.textIndex(), "content_index": 0, "part": obj{"type": "output_text", "text": "", "annotations": []any{}}}),
		)
		return evs
	}
}

// delta appends content delta i to buf. This is the hot path of a paced
// stream, so it is built by hand.
func (g *gen) delta(buf []byte, i int) []byte {
	switch g.api {
	case apiMessages:
		buf = append(buf, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
		buf = strconv.AppendInt(buf, int64(g.textIndex()), 10)
		buf = append(buf, ",\"delta\":{\"type\":\"text_delta\",\"text\":\""...)
		buf = g.appendText(buf)
		return append(buf, "\"}}\n\n"...)
	case apiChat:
		buf = append(buf, "data: {\"id\":\""...)
		buf = append(buf, g.id...)
		buf = append(buf, "\",\"object\":\"chat.completion.chunk\",\"created\":"...)
		buf = strconv.AppendInt(buf, g.created, 10)
		buf = append(buf, ",\"model\":\""...)
		buf = append(buf, g.model...)
		buf = append(buf, "\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\""...)
		buf = g.appendText(buf)
		return append(buf, "\"},\"finish_reason\":null}]}\n\n"...)
	default:
		buf = append(buf, "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":"...)
		buf = strconv.AppendInt(buf, int64(10+i), 10)
		buf = append(buf, ",\"item_id\":\""...)
		buf = append(buf, g.itemID...)
		buf = append(buf, "\",\"output_index\":"...)
		buf = strconv.AppendInt(buf, int64(g.textIndex()), 10)
		buf = append(buf, ",\"content_index\":0,\"delta\":\""...)
		buf = g.appendText(buf)
		return append(buf, "\",\"logprobs\":[]}\n\n"...)
	}
}

// StampLen is the length of a send stamp: "@", 19 digits of Unix
// nanoseconds, "@".
const StampLen = 21

// AppendStamp appends the send stamp of t.
func AppendStamp(buf []byte, t time.Time) []byte {
	buf = append(buf, '@')
	ns := t.UnixNano()
	var digits [19]byte
	for i := len(digits) - 1; i >= 0; i-- {
		digits[i] = byte('0' + ns%10)
		ns /= 10
	}
	buf = append(buf, digits[:]...)
	return append(buf, '@')
}

// ParseStamp finds a send stamp in b (an event's data) and returns its time
// in Unix nanoseconds.
func ParseStamp(b []byte) (int64, bool) {
	for i := 0; i+StampLen <= len(b); i++ {
		if b[i] != '@' || b[i+StampLen-1] != '@' {
			continue
		}
		var ns int64
		ok := true
		for _, c := range b[i+1 : i+StampLen-1] {
			if c < '0' || c > '9' {
				ok = false
				break
			}
			ns = ns*10 + int64(c-'0')
		}
		if ok {
			return ns, true
		}
	}
	return 0, false
}

// appendText appends one delta's text: the configured filler, its head
// replaced by the send stamp when the Stamp knob is on.
func (g *gen) appendText(buf []byte) []byte {
	if !g.k.Stamp {
		return append(buf, g.text...)
	}
	buf = AppendStamp(buf, time.Now())
	if len(g.text) > StampLen {
		buf = append(buf, g.text[StampLen:]...)
	}
	return buf
}

func (g *gen) fullText() string { return strings.Repeat(g.text, g.k.Chunks) }

func (g *gen) epilogue(includeUsage bool) [][]byte {
	switch g.api {
	case apiMessages:
		evs := [][]byte{sse("content_block_stop", obj{"type": "content_block_stop", "index": g.textIndex()})}
		if g.k.Scenario.Tool {
			idx := g.textIndex() + 1
			half := len(ToolArguments) / 2
			evs = append(evs,
				sse("content_block_start", obj{"type": "content_block_start", "index": idx, "content_block": obj{"type": "tool_use", "id": g.toolCallID, "name": ToolName, "input": obj{}}}),
				sse("content_block_delta", obj{"type": "content_block_delta", "index": idx, "delta": obj{"type": "input_json_delta", "partial_json": ToolArguments[:half]}}),
				sse("content_block_delta", obj{"type": "content_block_delta", "index": idx, "delta": obj{"type": "input_json_delta", "partial_json": ToolArguments[half:]}}),
				sse("content_block_stop", obj{"type": "content_block_stop", "index": idx}),
			)
		}
		return append(evs,
			sse("message_delta", obj{"type": "message_delta", "delta": obj{"stop_reason": g.stopReason(), "stop_sequence": nil}, "usage": obj{
				"input_tokens": g.usage.Input, "cache_creation_input_tokens": g.usage.CacheWrite,
				"cache_read_input_tokens": g.usage.CacheRead, "output_tokens": g.usage.Output,
			}}),
			sse("message_stop", obj{"type": "message_stop"}),
		)
	case apiChat:
		var evs [][]byte
		if g.k.Scenario.Tool {
			half := len(ToolArguments) / 2
			evs = append(evs,
				sse("", g.chatChunk(obj{"tool_calls": []any{obj{"index": 0, "id": g.toolCallID, "type": "function", "function": obj{"name": ToolName, "arguments": ""}}}}, nil)),
				sse("", g.chatChunk(obj{"tool_calls": []any{obj{"index": 0, "function": obj{"arguments": ToolArguments[:half]}}}}, nil)),
				sse("", g.chatChunk(obj{"tool_calls": []any{obj{"index": 0, "function": obj{"arguments": ToolArguments[half:]}}}}, nil)),
			)
		}
		reason := g.stopReason()
		evs = append(evs, sse("", g.chatChunk(obj{}, &reason)))
		if includeUsage {
			evs = append(evs, sse("", obj{"id": g.id, "object": "chat.completion.chunk", "created": g.created, "model": g.model, "choices": []any{}, "usage": g.chatUsage()}))
		}
		return append(evs, []byte("data: [DONE]\n\n"))
	default:
		text := g.fullText()
		evs := [][]byte{
			sse("response.output_text.done", obj{"type": "response.output_text.done", "sequence_number": 1000, "item_id": g.itemID, "output_index": g.textIndex(), "content_index": 0, "text": text, "logprobs": []any{}}),
			sse("response.content_part.done", obj{"type": "response.content_part.done", "sequence_number": 1001, "item_id": g.itemID, "output_index": g.textIndex(), "content_index": 0, "part": obj{"type": "output_text", "text": text, "annotations": []any{}}}),
			sse("response.output_item.done", obj{"type": "response.output_item.done", "sequence_number": 1002, "output_index": g.textIndex(), "item": g.messageItem(text)}),
		}
		if g.k.Scenario.Tool {
			idx := g.textIndex() + 1
			evs = append(evs,
				sse("response.output_item.added", obj{"type": "response.output_item.added", "sequence_number": 1003, "output_index": idx, "item": obj{"id": "fc_mock", "type": "function_call", "status": "in_progress", "call_id": g.toolCallID, "name": ToolName, "arguments": ""}}),
				sse("response.function_call_arguments.delta", obj{"type": "response.function_call_arguments.delta", "sequence_number": 1004, "item_id": "fc_mock", "output_index": idx, "delta": ToolArguments}),
				sse("response.function_call_arguments.done", obj{"type": "response.function_call_arguments.done", "sequence_number": 1005, "item_id": "fc_mock", "output_index": idx, "arguments": ToolArguments}),
				sse("response.output_item.done", obj{"type": "response.output_item.done", "sequence_number": 1006, "output_index": idx, "item": g.functionCallItem()}),
			)
		}
		return append(evs, sse("response.completed", obj{"type": "response.completed", "sequence_number": 1007, "response": g.responseObj("completed", g.outputItems(text), true)}))
	}
}

func (g *gen) streamError() []byte {
	switch g.api {
	case apiMessages:
		return sse("error", obj{"type": "error", "error": obj{"type": "overloaded_error", "message": "mock: overloaded mid-stream"}})
	case apiChat:
		return sse("", obj{"error": obj{"message": "mock: server error mid-stream", "type": "server_error", "code": nil, "param": nil}})
	default:
		return sse("error", obj{"type": "error", "sequence_number": 999, "code": "server_error", "message": "mock: server error mid-stream", "param": nil})
	}
}

// --- OpenAI Chat Completions ---

func (g *gen) chatChunk(delta obj, finish *string) obj {
	var fr any
	if finish != nil {
		fr = *finish
	}
	return obj{"id": g.id, "object": "chat.completion.chunk", "created": g.created, "model": g.model,
		"choices": []any{obj{"index": 0, "delta": delta, "finish_reason": fr}}}
}

func (g *gen) chatUsage() obj {
	return obj{
		"prompt_tokens": g.usage.Input, "completion_tokens": g.usage.Output, "total_tokens": g.usage.Input + g.usage.Output,
		"prompt_tokens_details":     obj{"cached_tokens": g.usage.CacheRead, "audio_tokens": 0},
		"completion_tokens_details": obj{"reasoning_tokens": g.usage.Reasoning, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
	}
}

// --- OpenAI Responses ---

func (g *gen) responseUsage() obj {
	return obj{
		"input_tokens": g.usage.Input, "input_tokens_details": obj{"cached_tokens": g.usage.CacheRead},
		"output_tokens": g.usage.Output, "output_tokens_details": obj{"reasoning_tokens": g.usage.Reasoning},
		"total_tokens": g.usage.Input + g.usage.Output,
	}
}

func (g *gen) reasoningItem() obj {
	return obj{"id": "rs_mock", "type": "reasoning", "summary": []any{obj{"type": "summary_text", "text": ThinkingText}}}
}

func (g *gen) messageItem(text string) obj {
	return obj{"id": g.itemID, "type": "message", "status": "completed", "role": "assistant",
		"content": []any{obj{"type": "output_text", "text": text, "annotations": []any{}}}}
}

func (g *gen) functionCallItem() obj {
	return obj{"id": "fc_mock", "type": "function_call", "status": "completed", "call_id": g.toolCallID, "name": ToolName, "arguments": ToolArguments}
}

func (g *gen) outputItems(text string) []any {
	var out []any
	if g.k.Scenario.Thinking {
		out = append(out, g.reasoningItem())
	}
	out = append(out, g.messageItem(text))
	if g.k.Scenario.Tool {
		out = append(out, g.functionCallItem())
	}
	return out
}

func (g *gen) responseObj(status string, output []any, withUsage bool) obj {
	if output == nil {
		output = []any{}
	}
	o := obj{"id": g.id, "object": "response", "created_at": g.created, "status": status, "model": g.model,
		"output": output, "parallel_tool_calls": true, "tool_choice": "auto", "tools": []any{},
		"temperature": 1.0, "top_p": 1.0, "text": obj{"format": obj{"type": "text"}}, "usage": nil, "error": nil,
		"incomplete_details": nil, "instructions": nil, "metadata": obj{}}
	if withUsage {
		o["usage"] = g.responseUsage()
	}
	return o
}

// blocking returns a non-streaming response body of roughly BodyBytes.
func (g *gen) blocking() []byte {
	text := strings.Repeat("lorem ipsum ", max(1, g.k.BodyBytes/12))
	if len(text) > g.k.BodyBytes && g.k.BodyBytes > 0 {
		text = text[:g.k.BodyBytes]
	}
	var v obj
	switch g.api {
	case apiMessages:
		var content []any
		if g.k.Scenario.Thinking {
			content = append(content, obj{"type": "thinking", "thinking": ThinkingText, "signature": "c2lnbmF0dXJl"})
		}
		content = append(content, obj{"type": "text", "text": text})
		if g.k.Scenario.Tool {
			var in any
			_ = json.Unmarshal([]byte(ToolArguments), &in)
			content = append(content, obj{"type": "tool_use", "id": g.toolCallID, "name": ToolName, "input": in})
		}
		v = obj{"id": g.id, "type": "message", "role": "assistant", "model": g.model, "content": content,
			"stop_reason": g.stopReason(), "stop_sequence": nil, "usage": g.anthropicUsage(g.usage.Output)}
	case apiChat:
		msg := obj{"role": "assistant", "content": text, "refusal": nil}
		if g.k.Scenario.Tool {
			msg["tool_calls"] = []any{obj{"id": g.toolCallID, "type": "function", "function": obj{"name": ToolName, "arguments": ToolArguments}}}
		}
		v = obj{"id": g.id, "object": "chat.completion", "created": g.created, "model": g.model,
			"choices": []any{obj{"index": 0, "message": msg, "finish_reason": g.stopReason(), "logprobs": nil}},
			"usage":   g.chatUsage()}
	default:
		v = g.responseObj("completed", g.outputItems(text), true)
	}
	b, _ := json.Marshal(v)
	return b
}
