package aibridge

import (
	"testing"

	"github.com/tidwall/gjson"
)

func TestLastElement(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{`[]`, ``},
		{`[{"a":1}]`, `{"a":1}`},
		{`[{"a":"x\"}"},{"b":[1,{"c":"]"}]}]`, `{"b":[1,{"c":"]"}]}`},
		{`[{"a":1},"s"]`, ``},
		{`[ {"a":"\\"} , {"z":"\\\""} ]`, `{"z":"\\\""}`},
		{`[[1],[2]]`, `[2]`},
		{`{"a":1}`, ``},
	} {
		if got := lastElement(gjson.Parse(c.in)).Raw; got != c.want {
			t.Errorf("%s: got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseRequestPrompt(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		api    apiKind
		body   string
		prompt string
		ok     bool
	}{
		{apiMessages, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "hi", true},
		{apiMessages, `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image"},{"type":"text","text":"b"}]}]}`, "b", true},
		{apiMessages, `{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}`, "", false},
		{apiMessages, `{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"x"}]}]}`, "", false},
		{apiChat, `{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"hello \"you\""}]}`, `hello "you"`, true},
		{apiResponses, `{"model":"m","input":"plain"}`, "plain", true},
		{apiResponses, `{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":"x"}]}`, "", false},
	} {
		ri := parseRequest(c.api, []byte(c.body))
		if ri.prompt != c.prompt || ri.hasPrompt != c.ok || ri.model != "m" {
			t.Errorf("%s: got (%q, %v, model %q), want (%q, %v)", c.body, ri.prompt, ri.hasPrompt, ri.model, c.prompt, c.ok)
		}
	}
}
