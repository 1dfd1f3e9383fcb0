package aibridge

import (
	"bytes"
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzSSERelayTaps feeds arbitrary upstream bytes, split at an arbitrary
// point (two reads), through the event framing and every tap, as the relay
// does: nothing may panic, and the framed events must add up to the input.
func FuzzSSERelayTaps(f *testing.F) {
	f.Add([]byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":3}}}\n\n"), 10)
	f.Add([]byte("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5}}\r\n\r\ndata: [DONE]\n\n"), 3)
	f.Add([]byte("event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":1}}}\n\n"), 0)
	f.Add([]byte("event: content_block_start\ndata: {\"index\":99999999,\"content_block\":{\"type\":\"tool_use\"}}\n\n"), 5)
	f.Fuzz(func(t *testing.T, stream []byte, split int) {
		for _, api := range []apiKind{apiMessages, apiChat, apiResponses} {
			tp := newTap(api, true)
			var framed []byte
			buf := []byte{}
			parts := [][]byte{stream}
			if split > 0 && split < len(stream) {
				parts = [][]byte{stream[:split], stream[split:]}
			}
			for _, p := range parts {
				buf = append(buf, p...)
				for {
					n := eventEnd(buf, 0)
					if n < 0 {
						break
					}
					tp.event(buf[:n])
					framed = append(framed, buf[:n]...)
					buf = buf[n:]
				}
			}
			if len(buf) > 0 {
				tp.event(buf)
				framed = append(framed, buf...)
			}
			if !bytes.Equal(framed, stream) {
				t.Fatalf("framing lost bytes")
			}
			tp.body(stream)
			_ = tp.result()
		}
	})
}

// FuzzTailElements checks the fast array skim against gjson on valid JSON.
func FuzzTailElements(f *testing.F) {
	f.Add(`[{"role":"user","content":"a\"]"},{"role":"system"}]`)
	f.Add(`[[1,2],{"a":[{"b":"\\"}]}]`)
	f.Add(`[1,"x",{"y":1}]`)
	f.Fuzz(func(t *testing.T, s string) {
		if !gjson.Valid(s) {
			return
		}
		arr := gjson.Parse(s)
		var want []string
		arr.ForEach(func(_, v gjson.Result) bool {
			if v.IsObject() || v.IsArray() {
				want = append(want, v.Raw)
			}
			return true
		})
		var buf [8]string
		got := tailElements(arr, buf[:])
		if !arr.IsArray() {
			if len(got) != 0 {
				t.Fatalf("non-array %q gave %q", s, got)
			}
			return
		}
		for i, g := range got {
			if w := want[len(want)-1-i]; g != w {
				t.Fatalf("%q: element %d from the end: got %q, want %q", s, i, g, w)
			}
		}
		if len(got) != min(len(want), len(buf)) {
			t.Fatalf("%q: got %d elements, want %d", s, len(got), min(len(want), len(buf)))
		}
	})
}
