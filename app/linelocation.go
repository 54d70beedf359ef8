package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/alert/line"
	"github.com/minato-city/anpi/httpapi"
	"github.com/minato-city/anpi/routing"
)

// LINE location → facilities (issue 5). A location message gets, besides
// being a safety-check answer, a reply with the three nearest open
// facilities with room and a quick-reply button per facility; tapping one
// (postback "hold=FACILITY_ID") holds one place there and the reply gives
// the hold id, its expiry and the check-in link. Replies use the event's
// reply token and run after the webhook has been acknowledged (LINE wants
// an answer within 2 s), at most lineReplyWorkers at once; each event is
// answered at most once (its id is claimed in the store), and failures are
// logged without user ids.

const (
	// lineReplyWorkers bounds the replies in flight in one process.
	lineReplyWorkers = 32
	// lineReplyWait is how long a reply waits for a free worker; a reply
	// token does not live much longer.
	lineReplyWait = 20 * time.Second
	// lineReplyTimeout bounds one reply's work (lookups, hold, LINE call).
	lineReplyTimeout = 15 * time.Second
	// lineNearest is how many facilities a location reply lists.
	lineNearest = 3
	// collLineReplies remembers the events already answered.
	collLineReplies = "line_replies"
	// holdPrefix starts the postback data of a hold button.
	holdPrefix = "hold="
)

// jst is Japan Standard Time (no daylight saving), for expiry times.
var jst = time.FixedZone("JST", 9*60*60)

// lineReplier sends the LINE replies of one App: a LINE client built on
// first use and a bound on the replies in flight.
type lineReplier struct {
	once   sync.Once
	sender *line.Sender
	err    error
	slots  chan struct{}
}

func (a *App) lineReplySender() (*line.Sender, error) {
	r := &a.lineOut
	r.once.Do(func() {
		r.slots = make(chan struct{}, lineReplyWorkers)
		if !a.Cfg.LINE.Enabled {
			r.err = errors.New("line channel disabled")
			return
		}
		r.sender, r.err = line.New(line.Config{Endpoint: a.Cfg.LINE.Endpoint, AccessToken: a.Cfg.Secrets.LINEChannelAccessToken})
	})
	return r.sender, r.err
}

// holdPostback returns the facility id of a hold button's postback data
// ("hold=ID"; "hold:ID" is accepted too).
func holdPostback(data string) (string, bool) {
	for _, p := range []string{holdPrefix, "hold:"} {
		if id, ok := strings.CutPrefix(data, p); ok && id != "" && len(id) <= 200 {
			return id, true
		}
	}
	return "", false
}

// lineNeedsReply reports whether anpi answers the event itself: a location
// message or a hold button, from a user, with a reply token.
func lineNeedsReply(e line.Event) bool {
	if e.ReplyToken == "" || e.UserID == "" || e.ID == "" {
		return false
	}
	switch e.Type {
	case line.EventLocation:
		return true
	case line.EventPostback:
		_, ok := holdPostback(e.Data)
		return ok
	}
	return false
}

// replyLater answers events in the background; call it after the webhook
// has been acknowledged.
func (a *App) replyLater(events []line.Event) {
	if len(events) == 0 {
		return
	}
	s, err := a.lineReplySender()
	if err != nil {
		a.Log.Warn("line reply skipped", "reason", err.Error(), "events", len(events))
		return
	}
	for _, e := range events {
		go a.replyOne(s, e)
	}
}

func (a *App) replyOne(s *line.Sender, e line.Event) {
	slots := a.lineOut.slots
	wait := time.NewTimer(lineReplyWait)
	defer wait.Stop()
	select {
	case slots <- struct{}{}:
	case <-wait.C:
		a.metrics.webhooks.WithLabelValues("line_reply", "dropped").Inc()
		a.Log.Warn("line reply dropped: too many in flight", "event", e.ID)
		return
	}
	defer func() { <-slots }()
	ctx, cancel := context.WithTimeout(context.Background(), lineReplyTimeout)
	defer cancel()
	first, err := a.Backend.PutIfAbsent(ctx, collLineReplies, e.ID, []byte{1}, 48*time.Hour)
	if err != nil {
		a.Log.Error("line reply claim", "event", e.ID, "err", err)
		return
	}
	if !first {
		return // a redelivery of an event answered already
	}
	lang := ""
	if r, err := a.Residents.ByLINE(ctx, e.UserID); err == nil {
		lang = r.Language
	}
	var msgs []line.Message
	if e.Type == line.EventLocation {
		msgs = a.locationMessages(e.Lat, e.Lng, lang)
	} else {
		id, _ := holdPostback(e.Data)
		msgs = a.holdMessages(ctx, id, lang)
	}
	if err := s.Reply(ctx, e.ReplyToken, msgs...); err != nil {
		a.metrics.webhooks.WithLabelValues("line_reply", "failed").Inc()
		a.Log.Warn("line reply failed", "event", e.ID, "kind", e.Type, "err", err)
		return
	}
	a.metrics.webhooks.WithLabelValues("line_reply", "sent").Inc()
}

// facilityText is the wording of the facility replies in one language.
type facilityText struct {
	intro, row, footer, none, outside, button          string
	held, heldLink, full, unknown, holdFailed, minutes string
}

var facilityTexts = map[string]facilityText{
	"ja": {
		intro: "近くで受け入れ中の施設（空きあり）:", row: "%d. %s — 空き%d人・徒歩約%d分",
		footer: "下のボタンで1人分の場所を確保できます（%d分間）。", none: "いま近くに空きのある受け入れ中の施設がありません。最新の情報: %s",
		outside: "送られた位置は港区の案内範囲の外です。お近くの自治体の情報をご確認ください。", button: "確保 ",
		held: "%sに1人分の場所を確保しました。\n確保番号: %s\n有効期限: %s まで", heldLink: "到着したらこちらで受付: %s",
		full:    "申し訳ありません。その施設はいま空きがありません。位置情報をもう一度送ると、別の施設をご案内します。",
		unknown: "その施設は見つかりませんでした。位置情報をもう一度送ってください。", holdFailed: "ただいま確保できませんでした。少し待ってからもう一度お試しください。",
	},
	"ja-easy": {
		intro: "ちかくで うけいれて いる しせつ（あき あり）:", row: "%d. %s — あき%dにん・あるいて %dぷん",
		footer: "したの ボタンで 1にんぶんの ばしょを とって おけます（%dぷん）。", none: "いま ちかくに あいて いる しせつが ありません。さいしんの じょうほう: %s",
		outside: "その ばしょは みなとくの あんない はんいの そとです。ちかくの まちの じょうほうを みて ください。", button: "とっておく ",
		held: "%sに 1にんぶんの ばしょを とりました。\nばんごう: %s\nきげん: %s まで", heldLink: "ついたら ここで うけつけ: %s",
		full:    "ごめんなさい。その しせつは いま いっぱいです。もう いちど いちじょうほうを おくって ください。",
		unknown: "その しせつは みつかりません でした。もう いちど いちじょうほうを おくって ください。", holdFailed: "いま とれません でした。すこし まって もう いちど ためして ください。",
	},
	"en": {
		intro: "Open facilities with room near you:", row: "%d. %s — %d places free, about %d min walk",
		footer: "Tap a button below to hold one place for %d minutes.", none: "No open facility with room is near you right now. Latest: %s",
		outside: "That position is outside the area Minato City serves. Please check your local municipality's information.", button: "Hold ",
		held: "One place is held for you at %s.\nHold ID: %s\nValid until: %s", heldLink: "Check in on arrival: %s",
		full:    "Sorry, that facility has no room now. Send your location again for other facilities.",
		unknown: "That facility was not found. Please send your location again.", holdFailed: "The place could not be held just now. Please try again in a moment.",
	},
	"zh": {
		intro: "附近正在接收且有空位的设施:", row: "%d. %s — 空位%d人・步行约%d分钟",
		footer: "点击下方按钮可为1人预留位置（%d分钟）。", none: "附近暂时没有接收中且有空位的设施。最新信息: %s",
		outside: "该位置不在港区的服务范围内。请查看您所在地区的信息。", button: "预留 ",
		held: "已在%s为您预留1人位置。\n预留编号: %s\n有效期至: %s", heldLink: "到达后请在此登记: %s",
		full:    "抱歉，该设施目前没有空位。请再次发送位置信息以获取其他设施。",
		unknown: "未找到该设施。请再次发送位置信息。", holdFailed: "暂时无法预留。请稍后再试。",
	},
	"ko": {
		intro: "가까운 수용 중인 시설 (빈자리 있음):", row: "%d. %s — 빈자리 %d명・도보 약 %d분",
		footer: "아래 버튼으로 1명분 자리를 확보할 수 있습니다 (%d분간).", none: "지금 근처에 빈자리가 있는 수용 시설이 없습니다. 최신 정보: %s",
		outside: "보내신 위치는 미나토구 안내 범위 밖입니다. 가까운 지자체 정보를 확인해 주세요.", button: "확보 ",
		held: "%s에 1명분 자리를 확보했습니다.\n확보 번호: %s\n유효 기한: %s 까지", heldLink: "도착하면 여기서 접수: %s",
		full:    "죄송합니다. 그 시설은 지금 빈자리가 없습니다. 위치 정보를 다시 보내 주시면 다른 시설을 안내합니다.",
		unknown: "그 시설을 찾을 수 없습니다. 위치 정보를 다시 보내 주세요.", holdFailed: "지금은 확보하지 못했습니다. 잠시 후 다시 시도해 주세요.",
	},
}

// replyLanguages are the languages a reply is written in: the resident's,
// or Japanese and English for someone not in the directory.
func replyLanguages(lang string) []string {
	if _, ok := facilityTexts[lang]; ok {
		return []string{lang}
	}
	return []string{"ja", "en"}
}

func facilityName(f routing.Facility, lang string) string {
	if lang != "ja" && lang != "ja-easy" && f.NameEN != "" {
		return f.NameEN
	}
	return f.Name
}

// buttonLabel fits a label into LINE's 20 characters.
func buttonLabel(prefix, name string) string {
	const max = 20
	s := prefix + name
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// locationMessages answers a location: the nearest open facilities with
// room, one hold button each; or why there are none.
func (a *App) locationMessages(lat, lng float64, lang string) []line.Message {
	langs := replyLanguages(lang)
	ms, err := a.Facilities.Nearest(lat, lng, lineNearest, 1)
	if err != nil {
		var he *httpapi.Error
		if !errors.As(err, &he) || he.Status != http.StatusBadRequest {
			a.Log.Error("line location: nearest", "err", err)
		}
		return texts(langs, func(l string, t facilityText) string { return t.outside })
	}
	if len(ms) == 0 {
		page := strings.TrimRight(a.Cfg.PublicURL, "/") + "/shelters"
		return texts(langs, func(l string, t facilityText) string { return fmt.Sprintf(t.none, page) })
	}
	ttl := int(routing.DefaultHoldTTL / time.Minute)
	out := texts(langs, func(l string, t facilityText) string {
		var b strings.Builder
		b.WriteString(t.intro)
		for i, m := range ms {
			b.WriteString("\n")
			fmt.Fprintf(&b, t.row, i+1, facilityName(m.Facility, l), m.Free, m.WalkMinutes)
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, t.footer, ttl)
		return b.String()
	})
	t := facilityTexts[langs[0]]
	buttons := make([]alert.QuickReply, len(ms))
	for i, m := range ms {
		buttons[i] = alert.QuickReply{
			Label: buttonLabel(t.button, facilityName(m.Facility, langs[0])),
			Data:  holdPrefix + m.Facility.ID,
		}
	}
	out[len(out)-1].QuickReplies = buttons
	return out
}

// texts returns one message per language, written by f.
func texts(langs []string, f func(lang string, t facilityText) string) []line.Message {
	out := make([]line.Message, len(langs))
	for i, l := range langs {
		out[i] = line.Message{Text: f(l, facilityTexts[l])}
	}
	return out
}

// holdMessages holds one place at facility id and says so, with the hold
// id, its expiry (JST) and the check-in link; or why it could not.
func (a *App) holdMessages(ctx context.Context, id, lang string) []line.Message {
	langs := replyLanguages(lang)
	h, err := a.Facilities.Hold(ctx, id, 1)
	if err != nil {
		var he *httpapi.Error
		switch {
		case errors.As(err, &he) && he.Status == http.StatusNotFound:
			return texts(langs, func(l string, t facilityText) string { return t.unknown })
		case errors.As(err, &he) && he.Status == http.StatusConflict:
			return texts(langs, func(l string, t facilityText) string { return t.full })
		}
		a.Log.Error("line hold", "err", err)
		return texts(langs, func(l string, t facilityText) string { return t.holdFailed })
	}
	f, _ := a.Facilities.Get(id)
	link := strings.TrimRight(a.Cfg.PublicURL, "/") + "/shelters/checkin/" + url.PathEscape(id) + "?hold=" + url.QueryEscape(h.ID)
	until := h.ExpiresAt.In(jst).Format("15:04 (JST)")
	return texts(langs, func(l string, t facilityText) string {
		return fmt.Sprintf(t.held, facilityName(f, l), h.ID, until) + "\n" + fmt.Sprintf(t.heldLink, link)
	})
}
