package classify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// ErrInvalidText is returned for reply text that is not valid UTF-8.
var ErrInvalidText = errors.New("invalid UTF-8")

// Rules is the local rules classifier: phrase tables for ja, en, zh and ko
// with negation scoped to the cue, dialect, typo, emoji and voice-style
// variants, needs, people count and location extraction. The zero value is
// ready to use and safe for concurrent use; the tables are compiled once per
// process.
//
// Every table runs on every reply (residents mix languages); lang only
// orders location extraction and is detected from the script when "".
type Rules struct{}

// Classify implements Classifier. It fails only for invalid UTF-8 or a done
// context.
func (r Rules) Classify(ctx context.Context, text, lang string) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("classify: %w", err)
	}
	if !utf8.ValidString(text) {
		return Result{}, fmt.Errorf("classify: %w", ErrInvalidText)
	}
	return r.Label(text, lang), nil
}

// Label classifies text without a context. Invalid UTF-8 is read with
// replacement characters; text longer than MaxTextBytes is cut to its first
// MaxTextBytes bytes; empty text is unclear with confidence 0.
func (Rules) Label(text, lang string) Result {
	text = truncate(text)
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	if strings.TrimSpace(text) == "" {
		return Result{Label: LabelUnclear, Confidence: 0, Needs: []string{}, People: 1, Source: SourceRules}
	}
	t := tables()
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.norm = normalize(sc.norm[:0], text)
	res := t.analyse(sc)
	if lang == "" {
		lang = DetectLang(text)
	}
	res.Location = extractLocation(text, lang)
	return res
}

// Suspicious reports whether text looks like a prompt-injection attempt
// (instructions aimed at a model rather than an answer about the person). The
// LLM classifier sends such replies to the model alone, never in a batch with
// other residents' replies, and the rules cap their confidence so a person
// reviews them.
func (Rules) Suspicious(text string) bool {
	t := tables()
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.norm = normalize(sc.norm[:0], truncate(text))
	sc.raw = t.m.find(sc.raw[:0], sc.norm)
	for _, m := range sc.raw {
		for _, e := range t.entries[m.id] {
			if e.kind == kInject && t.bounded(sc.norm, m, e) {
				return true
			}
		}
	}
	return false
}

type entryKind uint8

const (
	kCue entryKind = iota
	kWeak
	kSoft   // needs_help cue that yields to a strong stranded cue ("電車が止まって動けない")
	kNegCue // says nothing alone; negated it means safe ("被害はない")
	kNeutral
	kNegSafe
	kNegPre
	kNegPost
	kNeed
	kReq
	kReqPre
	kReqPost
	kHave
	kHavePre
	kCount
	kCounter
	kInject
	kDegree // degree adverb ("badly", "크게", "大した"): a negated injury under it is partial, still injured
	kSelf   // the writer speaking of themselves ("私は", "I'm", "저는")
	kOther  // another person ("母", "my husband", "옆집"): with kSelf the reply speaks for two
)

type entry struct {
	kind   entryKind
	arg    int8 // urgency (label), need index or count
	lb, rb bool // word boundary required on the left / right
	// selfNeg marks an urgent cue that is itself a negative or inability form
	// ("cant get out", "못 나가", "出られない", "出不去"): another negator
	// never cancels it, since "not … can't get out" is no reason to call a
	// reply safe.
	selfNeg bool
}

type ruleTables struct {
	m       *matcher
	entries [][]entry // phrase id → entries
}

var tables = sync.OnceValue(compileLexicon)

type scratch struct {
	norm  []byte
	raw   []match
	typed []tmatch
}

type tmatch struct {
	start, end int
	e          entry
	dead       bool
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{norm: make([]byte, 0, 256), raw: make([]match, 0, 32), typed: make([]tmatch, 0, 32)}
}}

// compileLexicon parses lexicon into an automaton.
func compileLexicon() *ruleTables {
	kinds := map[string]entryKind{
		"cue": kCue, "weak": kWeak, "soft": kSoft, "negcue": kNegCue, "neutral": kNeutral, "negsafe": kNegSafe, "negpre": kNegPre,
		"negpost": kNegPost, "need": kNeed, "request": kReq, "reqpre": kReqPre, "reqpost": kReqPost,
		"have": kHave, "havepre": kHavePre, "count": kCount, "counter": kCounter, "inject": kInject,
		"degree": kDegree, "self": kSelf, "other": kOther,
	}
	ids := map[string]int{}
	var phrases []string
	var entries [][]entry
	for ln, line := range strings.Split(lexicon, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		head, body, ok := strings.Cut(line, ":")
		if !ok {
			panic(fmt.Sprintf("classify: lexicon line %d: no colon", ln))
		}
		f := strings.Fields(head)
		k, ok := kinds[f[0]]
		if !ok {
			panic(fmt.Sprintf("classify: lexicon line %d: unknown kind %q", ln, f[0]))
		}
		var arg int8
		if len(f) > 1 {
			switch k {
			case kCue, kWeak, kSoft:
				arg = int8(Urgency(f[1]))
			case kNeed:
				arg = int8(needIndex(f[1]))
			case kCount:
				n, _ := strconv.Atoi(f[1])
				arg = int8(n)
			}
			if arg < 0 {
				panic(fmt.Sprintf("classify: lexicon line %d: bad argument %q", ln, f[1]))
			}
		}
		if k == kNegSafe {
			arg = 0
		}
		for _, p := range strings.Split(body, "|") {
			p = strings.TrimSpace(p)
			prefix := strings.HasSuffix(p, "*")
			p = strings.TrimSuffix(p, "*")
			n := string(normalize(nil, p))
			if n == "" {
				continue
			}
			e := entry{kind: k, arg: arg, lb: isWordByte(n[0]), rb: isWordByte(n[len(n)-1]) && !prefix}
			id, ok := ids[n]
			if !ok {
				id = len(phrases)
				ids[n] = id
				phrases = append(phrases, n)
				entries = append(entries, nil)
			}
			entries[id] = append(entries[id], e)
		}
	}
	t := &ruleTables{m: newMatcher(phrases), entries: entries}
	t.markSelfNeg(phrases)
	return t
}

// inabilityMarks are "cannot"-type words that are not negators in the lexicon
// (they never cancel a cue) but make a cue containing them a negative form.
var inabilityMarks = []string{"cant", "cannot", "can not", "unable", "wont", "will not", "못"}

// markSelfNeg flags urgent cues whose phrase holds a negator or an inability
// mark (see entry.selfNeg).
func (t *ruleTables) markSelfNeg(phrases []string) {
	for id, p := range phrases {
		self := false
		for _, w := range inabilityMarks {
			if i := strings.Index(p, w); i >= 0 && (i == 0 || !isWordByte(p[i-1])) &&
				(i+len(w) == len(p) || !isWordByte(p[i+len(w)])) {
				self = true
				break
			}
		}
		if !self {
			b := []byte(p)
		find:
			for _, m := range t.m.find(nil, b) {
				for _, e := range t.entries[m.id] {
					if (e.kind == kNegPre || e.kind == kNegPost) && t.bounded(b, m, e) && m.end-m.start < len(p) {
						self = true
						break find
					}
				}
			}
		}
		if !self {
			continue
		}
		for k, e := range t.entries[id] {
			if (e.kind == kCue || e.kind == kWeak || e.kind == kSoft) && e.arg > 0 {
				t.entries[id][k].selfNeg = true
			}
		}
	}
}

// bounded checks the word-boundary requirements of e at m.
func (t *ruleTables) bounded(text []byte, m match, e entry) bool {
	if e.lb && m.start > 0 && isWordByte(text[m.start-1]) {
		return false
	}
	if e.rb && m.end < len(text) && isWordByte(text[m.end]) {
		return false
	}
	return true
}

// Windows (bytes of normalised text) within which a modifier applies.
const (
	negPreWindow  = 12
	degreeWindow  = 12
	negPostWindow = 15
	reqPreWindow  = 18
	reqPostWindow = 24
	haveWindow    = 16
)

// contains reports whether a strictly contains b.
func contains(a, b tmatch) bool {
	return a.start <= b.start && b.end <= a.end && a.end-a.start > b.end-b.start
}

func isCueKind(k entryKind) bool {
	return k == kCue || k == kWeak || k == kSoft || k == kNegSafe || k == kNegCue
}

func isContainer(k entryKind, inner entryKind) bool {
	switch inner {
	case kCue, kWeak, kSoft, kNegSafe, kNegCue:
		return isCueKind(k) || k == kNeutral || k == kInject
	case kNegPre, kNegPost, kReq, kReqPre, kReqPost:
		return isCueKind(k) || k == kNeutral || k == kNeed
	case kHave, kHavePre:
		return isCueKind(k) || k == kNeutral || k == kNeed || k == kReq || k == kReqPre || k == kReqPost
	case kNeed:
		return k == kNeutral
	}
	return false
}

// analyse runs the automaton over sc.norm and applies the rules.
func (t *ruleTables) analyse(sc *scratch) Result {
	text := sc.norm
	sc.raw = t.m.find(sc.raw[:0], text)
	sc.typed = sc.typed[:0]
	for _, m := range sc.raw {
		for _, e := range t.entries[m.id] {
			if t.bounded(text, m, e) {
				sc.typed = append(sc.typed, tmatch{start: m.start, end: m.end, e: e})
			}
		}
	}
	ms := sc.typed
	for i := range ms {
		for j := range ms {
			if i != j && !ms[i].dead && contains(ms[j], ms[i]) && isContainer(ms[j].e.kind, ms[i].e.kind) {
				ms[i].dead = true
				break
			}
		}
	}
	var (
		active     [6]uint8 // by urgency: 0 none, 1 weak, 2 strong
		soft       bool
		negSafe    bool
		negUrgent  bool
		needMask   uint16
		needReq    bool
		people     = 0
		suspicious bool
		self       bool
		other      bool
	)
	for i := range ms {
		m := ms[i]
		if m.dead {
			continue
		}
		switch m.e.kind {
		case kNegCue:
			if negated(text, ms, i) {
				negUrgent = true
			}
		case kCue, kWeak, kSoft:
			neg := !m.e.selfNeg && negated(text, ms, i)
			if neg && m.e.arg == 4 && degreeBefore(text, ms, i) {
				neg = false // "not badly hurt", "크게 다치진 않았", "大したけがじゃない": hurt, if lightly
			}
			switch {
			case !neg && m.e.kind == kSoft:
				soft = true
			case neg && m.e.arg == 0:
				negSafe = true
			case neg:
				negUrgent = true
			default:
				lv := uint8(2)
				if m.e.kind == kWeak {
					lv = 1
				}
				active[m.e.arg] = max(active[m.e.arg], lv)
			}
		case kNegSafe:
			if negated(text, ms, i) {
				active[0] = max(active[0], 1)
			} else {
				negSafe = true
			}
		case kNeed:
			if hasNeed(text, ms, i) {
				needMask |= 1 << m.e.arg
				if requested(text, ms, i) {
					needReq = true
				}
			}
		case kCount:
			people = max(people, int(m.e.arg))
		case kCounter:
			if n := numberBefore(text, m.start); n > 0 && n <= 50 {
				people = max(people, n)
			}
		case kInject:
			suspicious = true
		case kSelf:
			self = true
		case kOther:
			other = true
		}
	}
	if people == 0 && self && other {
		people = 2 // "私は無事ですが母が骨折", "I'm fine but my neighbour is trapped"
	}
	if needReq {
		active[5] = 2
	}
	if soft && active[5] == 0 && active[3] < 2 {
		active[5] = 2 // "動けない" without a train context: cannot move
	}
	r := Result{Needs: needsFromMask(needMask), People: max(people, 1), Source: SourceRules}
	best := -1
	for u := 5; u >= 0; u-- {
		if active[u] != 0 {
			best = u
			break
		}
	}
	switch {
	case best < 0 && negSafe:
		r.Label, r.Confidence = LabelUnclear, 0.5
	case best < 0 && negUrgent:
		r.Label, r.Confidence = LabelSafe, 0.8
	case best < 0:
		r.Label, r.Confidence = LabelUnclear, 0.3
	default:
		r.Label = Labels[5-best]
		r.Confidence = 0.9
		if active[best] == 1 {
			r.Confidence = 0.7
		}
		if best == 0 && negSafe {
			r.Confidence = 0.6
		}
	}
	if suspicious {
		r.Confidence = min(r.Confidence, 0.5)
	}
	return r
}

// clauseBreak reports whether b holds a sentence or clause boundary.
func clauseBreak(b []byte) bool {
	for _, c := range b {
		if c == sepSentence || c == ',' {
			return true
		}
	}
	return false
}

// sentenceBreak reports whether b holds a sentence boundary.
func sentenceBreak(b []byte) bool {
	for _, c := range b {
		if c == sepSentence {
			return true
		}
	}
	return false
}

// blocked reports whether a cue, need or neutral phrase starts in [from, to).
func blocked(ms []tmatch, from, to int, self int) bool {
	for j, m := range ms {
		if j == self || m.dead || m.start < from || m.start >= to {
			continue
		}
		switch m.e.kind {
		case kCue, kWeak, kSoft, kNeed, kNeutral, kNegSafe, kNegCue:
			return true
		}
	}
	return false
}

var negStops = []string{"です", "ます", "けど", "けれど", "でも", "から", "ので", "but", "however"}

// negated reports whether a negator governs cue ms[i].
func negated(text []byte, ms []tmatch, i int) bool {
	c := ms[i]
	for j, n := range ms {
		if n.dead || j == i {
			continue
		}
		switch n.e.kind {
		case kNegPre:
			if n.end <= c.start && c.start-n.end <= negPreWindow && !clauseBreak(text[n.end:c.start]) && !hasHan(text[n.end:c.start]) &&
				!blocked(ms, n.end, c.start, i) && !(isHangulStart(text[n.start:]) && hangulWordGap(text[n.end:c.start])) {
				return true
			}
		case kNegPost:
			if n.start >= c.end && n.start-c.end <= negPostWindow && !clauseBreak(text[c.end:n.start]) && !hasHan(text[c.end:n.start]) &&
				!blocked(ms, c.end, n.start, i) && !hasStop(text[c.end:n.start]) {
				return true
			}
		}
	}
	return false
}

// degreeBefore reports whether a degree adverb sits just before cue ms[i] in
// the same clause.
func degreeBefore(text []byte, ms []tmatch, i int) bool {
	c := ms[i]
	for _, d := range ms {
		if !d.dead && d.e.kind == kDegree && d.end <= c.start && c.start-d.end <= degreeWindow &&
			!clauseBreak(text[d.end:c.start]) {
			return true
		}
	}
	return false
}

// hangulWordGap reports whether b (the text between a Hangul negator and its
// cue) holds a whole word: 안 governs only the word right after it, so in
// "문이 안 열려서 못 나가요" it negates 열려서, not 못 나가요.
func hangulWordGap(b []byte) bool {
	for _, c := range b {
		if c != sepSpace {
			return true
		}
	}
	return false
}

// isHangulStart reports whether b starts with a Hangul syllable or jamo.
func isHangulStart(b []byte) bool {
	r, _ := utf8.DecodeRune(b)
	return (r >= 0xAC00 && r <= 0xD7A3) || (r >= 0x1100 && r <= 0x11FF) || (r >= 0x3130 && r <= 0x318F)
}

// hasHan reports whether b holds a Han character: a negator only reaches its
// cue across particles and auxiliaries, not across another content word.
func hasHan(b []byte) bool {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		i += size
		if r >= 0x3400 && r <= 0x9FFF {
			return true
		}
	}
	return false
}

func hasStop(b []byte) bool {
	for _, s := range negStops {
		if strings.Contains(string(b), s) {
			return true
		}
	}
	return false
}

// hasNeed reports whether need ms[i] stands, i.e. no "we have it" governs it.
func hasNeed(text []byte, ms []tmatch, i int) bool {
	c := ms[i]
	for _, h := range ms {
		if h.dead {
			continue
		}
		switch h.e.kind {
		case kHave:
			if h.start >= c.end && h.start-c.end <= haveWindow && !sentenceBreak(text[c.end:h.start]) &&
				!reqBetween(ms, c.end, h.start) {
				return false
			}
		case kHavePre:
			if h.end <= c.start && c.start-h.end <= haveWindow && !sentenceBreak(text[h.end:c.start]) &&
				!reqBetween(ms, h.end, c.start) {
				return false
			}
		}
	}
	return true
}

func reqBetween(ms []tmatch, from, to int) bool {
	for _, m := range ms {
		if !m.dead && m.start >= from && m.start < to {
			switch m.e.kind {
			case kReq, kReqPre, kReqPost, kCue, kSoft, kNeutral:
				return true
			}
		}
	}
	return false
}

// requested reports whether a lacking/asking phrase governs need ms[i].
func requested(text []byte, ms []tmatch, i int) bool {
	c := ms[i]
	for _, q := range ms {
		if q.dead {
			continue
		}
		pre := q.end <= c.start && c.start-q.end <= reqPreWindow && !sentenceBreak(text[q.end:c.start])
		post := q.start >= c.end && q.start-c.end <= reqPostWindow && !sentenceBreak(text[c.end:q.start])
		switch q.e.kind {
		case kReq:
			if pre || post {
				return true
			}
		case kReqPre:
			if pre {
				return true
			}
		case kReqPost:
			if post {
				return true
			}
		}
	}
	return false
}

var (
	kanjiDigits = map[rune]int{'一': 1, '二': 2, '両': 2, '两': 2, '俩': 2, '三': 3, '四': 4, '五': 5, '六': 6, '七': 7, '八': 8, '九': 9, '十': 10}
	hangulNums  = map[string]int{"한": 1, "두": 2, "세": 3, "네": 4, "다섯": 5, "여섯": 6, "일곱": 7, "여덟": 8, "아홉": 9, "열": 10}
	wordNums    = map[string]int{"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "both": 2, "all": 0}
)

// numberBefore parses the number written just before text[end] (one space
// allowed): ASCII digits, kanji/hanzi numerals, Korean native numerals or
// English number words. 0 means none.
func numberBefore(text []byte, end int) int {
	if end > 0 && text[end-1] == ' ' {
		end--
	}
	i := end
	for i > 0 && text[i-1] >= '0' && text[i-1] <= '9' {
		i--
	}
	if i < end {
		n, err := strconv.Atoi(string(text[i:end]))
		if err != nil || (i > 0 && isWordByte(text[i-1])) {
			return 0
		}
		return n
	}
	// kanji numerals up to 99
	j := end
	var rs []rune
	for j > 0 && len(rs) < 3 {
		r, size := utf8.DecodeLastRune(text[:j])
		if _, ok := kanjiDigits[r]; !ok {
			break
		}
		rs = append([]rune{r}, rs...)
		j -= size
	}
	if len(rs) > 0 {
		n, cur := 0, 0
		for _, r := range rs {
			v := kanjiDigits[r]
			if v == 10 {
				if cur == 0 {
					cur = 1
				}
				n += cur * 10
				cur = 0
			} else {
				cur = v
			}
		}
		return n + cur
	}
	// previous word
	k := end
	for k > 0 && text[k-1] != ' ' && text[k-1] != sepSentence && text[k-1] != ',' {
		k--
	}
	w := string(text[k:end])
	if n, ok := hangulNums[w]; ok {
		return n
	}
	if n, ok := wordNums[w]; ok {
		return n
	}
	return 0
}
