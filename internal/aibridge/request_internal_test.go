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
		{`[{"a":1},"s"]`, `{"a":1}`}, // only containers count
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

func TestPromptSkipsTrailingSystemTurn(t *testing.T) {
	t.Parallel()
	// Claude Code's default model sends the environment as a trailing
	// role:"system" message after the user's prompt.
	body := `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"<system-reminder>x</system-reminder>"},{"type":"text","text":"the prompt"}]},{"role":"system","content":[{"type":"text","text":"# Environment"}]}]}`
	ri := parseRequest(apiMessages, []byte(body))
	if !ri.hasPrompt || ri.prompt != "the prompt" {
		t.Fatalf("got (%q, %v)", ri.prompt, ri.hasPrompt)
	}
	// A tool loop's follow-up: the last turn is a tool result, no prompt.
	body = `{"model":"m","messages":[{"role":"user","content":"q"},{"role":"system","content":"env"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"e"}]}]}`
	if ri := parseRequest(apiMessages, []byte(body)); ri.hasPrompt {
		t.Fatalf("tool result recorded as prompt %q", ri.prompt)
	}
	// Responses: developer items after the user's input are skipped too.
	body = `{"model":"m","input":[{"role":"developer","content":"d"},{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]},{"role":"developer","content":"late"}]}`
	if ri := parseRequest(apiResponses, []byte(body)); ri.prompt != "hi" {
		t.Fatalf("responses prompt %q", ri.prompt)
	}
}
