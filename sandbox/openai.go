package sandbox

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// OpenAI simulator modes (OpenAIConfig.Mode).
const (
	// OpenAIModeKeywords labels replies with a small deterministic keyword
	// list, so demos work offline. The default.
	OpenAIModeKeywords = "keywords"
	// OpenAIModeAdversarial answers "safe" with confidence 1 for every reply.
	OpenAIModeAdversarial = "adversarial"
	// OpenAIModeFollowInjection obeys instructions found in reply text ("mark
	// everyone as safe" relabels every reply of the request), like a model
	// that falls for prompt injection.
	OpenAIModeFollowInjection = "follow_injection"
	// OpenAIModeNoJSONSchema rejects response_format json_schema with 400,
	// like older or smaller OpenAI-compatible servers; json_object works.
	OpenAIModeNoJSONSchema = "no_json_schema"
)

// OpenAIConfig configures the OpenAI-compatible chat API simulator.
type OpenAIConfig struct {
	// APIKey expected as a bearer token; "" accepts any token.
	APIKey string
	// Mode is one of the OpenAIMode constants; default OpenAIModeKeywords.
	Mode string
	// RPS limits chat requests per second (429 rate_limit_exceeded beyond it); 0 = unlimited.
	RPS float64
	// FailRate is the share of requests answered 500 server_error.
	FailRate float64
	// Latency is added before every chat answer.
	Latency time.Duration
	// Seed makes FailRate reproducible.
	Seed int64
}

// OpenAIStats counts what the simulator saw.
type OpenAIStats struct {
	Requests     int64 // POST /v1/chat/completions, whatever the outcome
	RateLimited  int64 // answered 429
	Failed       int64 // answered 500 (FailRate)
	Unauthorized int64 // answered 401
	BadRequests  int64 // answered 400
	Replies      int64 // <reply> items labelled
}

// OpenAI simulates POST /v1/chat/completions and GET /v1/models of an
// OpenAI-compatible server: bearer auth, request validation, rate limits with
// x-ratelimit headers, OpenAI's error JSON, strict json_schema answers shaped
// like the caller's schema (one array item per <reply id> in the user
// message) and usage counts. It is an http.Handler, safe for concurrent use.
type OpenAI struct {
	cfg  OpenAIConfig
	lim  *rate.Limiter
	mu   sync.Mutex
	rng  *rand.Rand
	seq  atomic.Int64
	stat struct{ requests, limited, failed, unauth, bad, replies atomic.Int64 }
}

// NewOpenAI returns a simulator configured by cfg.
func NewOpenAI(cfg OpenAIConfig) *OpenAI {
	if cfg.Mode == "" {
		cfg.Mode = OpenAIModeKeywords
	}
	o := &OpenAI{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6f6169))}
	if cfg.RPS > 0 {
		o.lim = rate.NewLimiter(rate.Limit(cfg.RPS), max(1, int(cfg.RPS)))
	}
	return o
}

// Stats returns the counters so far.
func (o *OpenAI) Stats() OpenAIStats {
	return OpenAIStats{
		Requests: o.stat.requests.Load(), RateLimited: o.stat.limited.Load(), Failed: o.stat.failed.Load(),
		Unauthorized: o.stat.unauth.Load(), BadRequests: o.stat.bad.Load(), Replies: o.stat.replies.Load(),
	}
}

// ServeHTTP implements http.Handler.
func (o *OpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/v1/chat/completions" && r.Method == http.MethodPost:
		o.stat.requests.Add(1)
		o.chat(w, r)
	case path == "/v1/models" && r.Method == http.MethodGet:
		if !o.oaiAuthorized(w, r) {
			return
		}
		oaiJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []map[string]any{
			{"id": "anpi-sandbox", "object": "model", "created": 1767225600, "owned_by": "anpi-sandbox"},
		}})
	case path == "/v1/chat/completions" || path == "/v1/models":
		oaiError(w, http.StatusMethodNotAllowed, "Method not allowed.", "invalid_request_error", "", nil)
	default:
		oaiError(w, http.StatusNotFound, "Invalid URL ("+r.Method+" "+r.URL.Path+")", "invalid_request_error", "", nil)
	}
}

func (o *OpenAI) oaiAuthorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if o.cfg.APIKey == "" || (ok && tok == o.cfg.APIKey) {
		return true
	}
	o.stat.unauth.Add(1)
	oaiError(w, http.StatusUnauthorized, "Incorrect API key provided: "+oaiMask(tok)+
		". You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "", "invalid_api_key")
	return false
}

// oaiMask shows a key the way OpenAI does: first 3 and last 4 characters.
func oaiMask(k string) string {
	if len(k) <= 8 {
		return strings.Repeat("*", len(k))
	}
	return k[:3] + strings.Repeat("*", 12) + k[len(k)-4:]
}

type oaiRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	ResponseFormat *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict bool            `json:"strict"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

func (o *OpenAI) chat(w http.ResponseWriter, r *http.Request) {
	if !o.oaiAuthorized(w, r) {
		return
	}
	if o.lim != nil {
		if !o.lim.Allow() {
			o.stat.limited.Add(1)
			h := w.Header()
			h.Set("x-ratelimit-limit-requests", strconv.Itoa(max(1, int(o.cfg.RPS*60))))
			h.Set("x-ratelimit-remaining-requests", "0")
			reset := time.Duration(float64(time.Second) / o.cfg.RPS)
			h.Set("x-ratelimit-reset-requests", reset.Round(time.Millisecond).String())
			h.Set("retry-after", strconv.Itoa(max(1, int(reset.Seconds()+0.999))))
			oaiError(w, http.StatusTooManyRequests, "Rate limit reached for requests. Please try again in "+
				reset.Round(time.Millisecond).String()+".", "requests", "", "rate_limit_exceeded")
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		o.bad(w, "Could not read the request body.", "")
		return
	}
	var req oaiRequest
	if err := json.Unmarshal(body, &req); err != nil {
		o.bad(w, "We could not parse the JSON body of your request.", "")
		return
	}
	if req.Model == "" {
		o.bad(w, "you must provide a model parameter", "model")
		return
	}
	if len(req.Messages) == 0 {
		o.bad(w, "[] is too short - 'messages'", "messages")
		return
	}
	var user string
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "developer", "user", "assistant", "tool":
		default:
			o.bad(w, fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'tool', and 'developer'.", m.Role), fmt.Sprintf("messages[%d].role", i))
			return
		}
		if m.Role == "user" {
			var s string
			if json.Unmarshal(m.Content, &s) == nil {
				user = s
			}
		}
	}
	var schema map[string]any
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_schema":
			if o.cfg.Mode == OpenAIModeNoJSONSchema {
				o.bad(w, "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.", "response_format")
				return
			}
			if rf.JSONSchema == nil || json.Unmarshal(rf.JSONSchema.Schema, &schema) != nil || schema == nil {
				o.bad(w, "Missing required parameter: 'response_format.json_schema'.", "response_format.json_schema")
				return
			}
			if rf.JSONSchema.Strict {
				if msg := oaiStrictProblem(schema, "schema"); msg != "" {
					o.bad(w, "Invalid schema for response_format '"+rf.JSONSchema.Name+"': "+msg, "response_format")
					return
				}
			}
		case "json_object", "text", "":
		default:
			o.bad(w, "Invalid value: '"+rf.Type+"'. Supported values are: 'json_object', 'json_schema', and 'text'.", "response_format.type")
			return
		}
	}
	if o.cfg.Latency > 0 {
		t := time.NewTimer(o.cfg.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if o.cfg.FailRate > 0 {
		o.mu.Lock()
		fail := o.rng.Float64() < o.cfg.FailRate
		o.mu.Unlock()
		if fail {
			o.stat.failed.Add(1)
			oaiError(w, http.StatusInternalServerError, "The server had an error while processing your request. Sorry about that!", "server_error", "", nil)
			return
		}
	}
	replies := oaiReplies(user)
	o.stat.replies.Add(int64(len(replies)))
	o.label(replies)
	var content []byte
	if schema != nil {
		content, _ = json.Marshal(oaiGenerate(schema, replies, nil))
	} else {
		content, _ = json.Marshal(oaiGenerate(oaiDefaultShape, replies, nil))
	}
	n := o.seq.Add(1)
	prompt := len(body) / 4
	completion := len(content) / 4
	if o.cfg.RPS > 0 {
		w.Header().Set("x-ratelimit-limit-requests", strconv.Itoa(max(1, int(o.cfg.RPS*60))))
		w.Header().Set("x-ratelimit-remaining-requests", strconv.Itoa(int(o.lim.Tokens())))
	}
	w.Header().Set("x-request-id", fmt.Sprintf("req_sbx_%08d", n))
	oaiJSON(w, http.StatusOK, map[string]any{
		"id": fmt.Sprintf("chatcmpl-sbx%08d", n), "object": "chat.completion", "created": time.Now().Unix(),
		"model": req.Model, "system_fingerprint": "fp_anpi_sandbox",
		"choices": []map[string]any{{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": string(content), "refusal": nil}}},
		"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
	})
}

func (o *OpenAI) bad(w http.ResponseWriter, msg, param string) {
	o.stat.bad.Add(1)
	oaiError(w, http.StatusBadRequest, msg, "invalid_request_error", param, nil)
}

// oaiStrictProblem checks OpenAI's strict-mode rules: every object lists all
// its properties as required and sets additionalProperties false.
func oaiStrictProblem(s map[string]any, path string) string {
	if s["type"] == "object" {
		props, _ := s["properties"].(map[string]any)
		req := map[string]bool{}
		if list, ok := s["required"].([]any); ok {
			for _, v := range list {
				if name, ok := v.(string); ok {
					req[name] = true
				}
			}
		}
		for name := range props {
			if !req[name] {
				return fmt.Sprintf("In context=('%s'), 'required' is required to be supplied and to be an array including every key in properties. Missing '%s'.", path, name)
			}
		}
		if ap, ok := s["additionalProperties"].(bool); !ok || ap {
			return fmt.Sprintf("In context=('%s'), 'additionalProperties' is required to be supplied and to be false.", path)
		}
		for name, p := range props {
			if ps, ok := p.(map[string]any); ok {
				if msg := oaiStrictProblem(ps, path+".properties."+name); msg != "" {
					return msg
				}
			}
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		return oaiStrictProblem(items, path+".items")
	}
	return ""
}

// oaiReply is one <reply> of the user message and the simulator's answer.
type oaiReply struct {
	id, lang, text string
	label          string
	confidence     float64
	needs          []string
	people         int
}

var oaiReplyRE = regexp.MustCompile(`(?s)<reply id="([^"]*)"(?: lang="([^"]*)")?>(.*?)</reply>`)

func oaiReplies(user string) []*oaiReply {
	var out []*oaiReply
	for _, m := range oaiReplyRE.FindAllStringSubmatch(user, -1) {
		out = append(out, &oaiReply{id: m[1], lang: m[2], text: html.UnescapeString(m[3])})
	}
	if len(out) == 0 {
		out = append(out, &oaiReply{id: "1", text: user})
	}
	return out
}

// oaiKeywordTable is the keywords mode's deliberately small labeller.
var oaiKeywordTable = []struct {
	label string
	words []string
}{
	{"needs_help", []string{"助けて", "たすけて", "閉じ込め", "下敷き", "救急車", "救助", "help", "trapped", "ambulance", "rescue", "救命", "被困", "救护车", "살려", "갇혔", "구급차", "🆘"}},
	{"injured", []string{"けが", "怪我", "骨折", "出血", "injured", "hurt", "bleeding", "broke", "受伤", "流血", "다쳤", "부상", "🤕"}},
	{"stranded", []string{"帰れ", "帰宅困難", "足止め", "stranded", "can't get home", "cant get home", "回不了家", "回不去", "집에 못"}},
	{"evacuated", []string{"避難", "evacuated", "shelter", "避难", "대피"}},
	{"safe", []string{"無事", "大丈夫", "元気", "safe", "fine", "ok", "平安", "没事", "괜찮", "무사", "👍"}},
}

var oaiNeedWords = map[string][]string{
	"medical": {"病院", "救急", "doctor", "hospital", "ambulance", "医院", "병원"}, "medicine": {"薬", "medicine", "insulin", "药", "약"},
	"water": {"水", "water", "물"}, "food": {"食", "food", "吃", "음식"}, "power": {"人工呼吸器", "酸素", "ventilator", "oxygen", "呼吸机", "산소"},
	"mobility": {"車椅子", "wheelchair", "轮椅", "휠체어"}, "infant": {"赤ちゃん", "ミルク", "baby", "婴儿", "아기"}, "pet": {"犬", "猫", "ペット", "dog", "cat", "pet", "狗", "강아지"},
}

func oaiKeywords(text string) (string, []string) {
	low := strings.ToLower(text)
	label := "unclear"
	for _, row := range oaiKeywordTable {
		for _, w := range row.words {
			if strings.Contains(low, w) {
				label = row.label
				break
			}
		}
		if label != "unclear" {
			break
		}
	}
	needs := []string{}
	for _, n := range []string{"medical", "medicine", "water", "food", "power", "mobility", "infant", "pet"} {
		for _, w := range oaiNeedWords[n] {
			if strings.Contains(low, w) {
				needs = append(needs, n)
				break
			}
		}
	}
	return label, needs
}

var (
	oaiInjectMarkers = []string{"ignore", "system", "label", "mark", "override", "instruction", "set ", "無視", "システム", "ラベル", "忽略", "系统", "标记", "무시", "시스템", "라벨"}
	oaiEveryone      = []string{"everyone", "all ", "residents", "全員", "全住民", "すべて", "所有", "모두", "batch"}
	oaiLabelWords    = []struct{ word, label string }{{"needs_help", "needs_help"}, {"injured", "injured"}, {"stranded", "stranded"},
		{"evacuated", "evacuated"}, {"unclear", "unclear"}, {"safe", "safe"}, {"安全", "safe"}, {"無事", "safe"}, {"안전", "safe"}}
)

// oaiInjection returns the label an instruction in text asks for and whether
// it addresses every reply.
func oaiInjection(text string) (string, bool, bool) {
	low := strings.ToLower(text)
	marked := false
	for _, m := range oaiInjectMarkers {
		if strings.Contains(low, m) {
			marked = true
			break
		}
	}
	if !marked {
		return "", false, false
	}
	for _, lw := range oaiLabelWords {
		if strings.Contains(low, lw.word) {
			all := false
			for _, e := range oaiEveryone {
				if strings.Contains(low, e) {
					all = true
				}
			}
			return lw.label, all, true
		}
	}
	return "", false, false
}

func (o *OpenAI) label(replies []*oaiReply) {
	for _, r := range replies {
		r.label, r.needs = oaiKeywords(r.text)
		r.confidence, r.people = 0.8, 1
		if r.label == "unclear" {
			r.confidence = 0.4
		}
	}
	switch o.cfg.Mode {
	case OpenAIModeAdversarial:
		for _, r := range replies {
			r.label, r.confidence, r.needs = "safe", 1, []string{}
		}
	case OpenAIModeFollowInjection:
		for _, r := range replies {
			target, all, ok := oaiInjection(r.text)
			if !ok {
				continue
			}
			for _, x := range replies {
				if x == r || all {
					x.label, x.confidence, x.needs = target, 1, []string{}
				}
			}
		}
	}
}

// oaiDefaultShape is the answer shape used without a json_schema.
var oaiDefaultShape = map[string]any{"type": "object", "properties": map[string]any{"results": map[string]any{
	"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{
		"id": map[string]any{"type": "string"}, "label": map[string]any{"type": "string"}, "confidence": map[string]any{"type": "number"},
		"needs": map[string]any{"type": "array"}, "people": map[string]any{"type": "integer"}, "location": map[string]any{"type": "string"},
	}}}}}

// oaiGenerate builds a value of schema's shape; an array of objects with an
// "id" property gets one element per reply, and fields named like a
// classifier's (id, label, confidence, needs, people, location) take the
// reply's values.
func oaiGenerate(s map[string]any, replies []*oaiReply, cur *oaiReply) any {
	switch s["type"] {
	case "object":
		props, _ := s["properties"].(map[string]any)
		out := map[string]any{}
		for name, p := range props {
			ps, _ := p.(map[string]any)
			out[name] = oaiField(name, ps, replies, cur)
		}
		return out
	case "array":
		items, _ := s["items"].(map[string]any)
		if items != nil && items["type"] == "object" {
			if props, _ := items["properties"].(map[string]any); props != nil && props["id"] != nil {
				arr := make([]any, 0, len(replies))
				for _, r := range replies {
					arr = append(arr, oaiGenerate(items, replies, r))
				}
				return arr
			}
		}
		return []any{}
	case "string":
		if enum, ok := s["enum"].([]any); ok && len(enum) > 0 {
			return enum[0]
		}
		return ""
	case "number", "integer":
		return 0
	case "boolean":
		return false
	}
	return nil
}

func oaiField(name string, s map[string]any, replies []*oaiReply, cur *oaiReply) any {
	if cur == nil && len(replies) == 1 && s["type"] != "array" && s["type"] != "object" {
		cur = replies[0]
	}
	if cur != nil {
		switch name {
		case "id":
			return cur.id
		case "label", "status":
			return cur.label
		case "confidence":
			return cur.confidence
		case "needs":
			return cur.needs
		case "people":
			return cur.people
		case "location":
			return ""
		}
	}
	return oaiGenerate(s, replies, cur)
}

func oaiJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// oaiError writes OpenAI's error body; param "" is null, code may be nil.
func oaiError(w http.ResponseWriter, status int, msg, typ, param string, code any) {
	var p any
	if param != "" {
		p = param
	}
	oaiJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": p, "code": code}})
}
