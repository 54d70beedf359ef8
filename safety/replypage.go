package safety

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/minato-city/anpi/safety/classify"
)

//go:embed web/reply.html
var replyFS embed.FS

var replyTmpl = template.Must(template.ParseFS(replyFS, "web/reply.html"))

type pageText struct{ Title, Thanks, Free, Send, Bad, Expired string }

var pageTexts = map[string]pageText{
	"ja":      {"安否確認", "回答を受け付けました。ありがとうございます。状況が変わったら、もう一度答えてください。", "状況を自由に書いてください（任意）", "送信", "このリンクは無効です。", "このリンクは期限切れです。"},
	"en":      {"Safety check", "Thank you, your answer was received. Answer again if things change.", "Tell us more (optional)", "Send", "This link is not valid.", "This link has expired."},
	"zh":      {"安全确认", "已收到您的回答，谢谢。情况变化时请再次回答。", "请描述您的情况（可选）", "发送", "此链接无效。", "此链接已过期。"},
	"ko":      {"안부 확인", "답변을 받았습니다. 감사합니다. 상황이 바뀌면 다시 답해 주세요.", "상황을 자유롭게 적어 주세요(선택)", "보내기", "유효하지 않은 링크입니다.", "만료된 링크입니다."},
	"ja-easy": {"あんぴ かくにん", "こたえを うけとりました。ありがとう ございます。", "いまの ようすを かいて ください", "おくる", "この リンクは つかえません。", "この リンクは もう つかえません。"},
}

var buttonTexts = map[string]map[string]string{
	"ja":      {"safe": "無事です", "injured": "けがをしています", "needs_help": "助けが必要です", "evacuated": "避難所にいます", "stranded": "帰宅できません"},
	"en":      {"safe": "I am safe", "injured": "I am injured", "needs_help": "I need help", "evacuated": "I am at a shelter", "stranded": "I cannot get home"},
	"zh":      {"safe": "我平安", "injured": "我受伤了", "needs_help": "我需要救助", "evacuated": "我在避难所", "stranded": "我无法回家"},
	"ko":      {"safe": "무사합니다", "injured": "다쳤습니다", "needs_help": "도움이 필요합니다", "evacuated": "대피소에 있습니다", "stranded": "귀가할 수 없습니다"},
	"ja-easy": {"safe": "だいじょうぶ", "injured": "けがを した", "needs_help": "たすけて", "evacuated": "ひなんじょに いる", "stranded": "いえに かえれない"},
}

type pageButton struct{ Label, Text string }

type pageData struct {
	Lang, Question, Error string
	Drill, Done           bool
	T                     pageText
	Buttons               []pageButton
}

// ReplyPage serves GET and POST /r/{token}: the one-tap reply page for
// residents who got the question by SMS or voice. It is public; the signed
// token scopes it to one person and one check.
func (s *Service) ReplyPage(links *Links) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		d := pageData{Lang: "ja", T: pageTexts["ja"]}
		checkID, residentID, err := links.Verify(r.PathValue("token"))
		if err != nil {
			status := http.StatusNotFound
			d.Error = d.T.Bad + " / " + pageTexts["en"].Bad
			if errors.Is(err, ErrExpiredToken) {
				status, d.Error = http.StatusGone, d.T.Expired+" / "+pageTexts["en"].Expired
			}
			render(w, status, d)
			return
		}
		ctx := r.Context()
		c, err := s.store.GetCheck(ctx, checkID)
		res, rerr := s.people.Get(ctx, residentID)
		if err != nil || rerr != nil {
			d.Error = d.T.Bad + " / " + pageTexts["en"].Bad
			render(w, http.StatusNotFound, d)
			return
		}
		if _, ok := pageTexts[res.Language]; ok {
			d.Lang, d.T = res.Language, pageTexts[res.Language]
		}
		d.Drill = c.Drill
		d.Question = c.Question[d.Lang]
		if d.Question == "" {
			d.Question = c.Question["ja"]
		}
		for _, b := range Buttons {
			d.Buttons = append(d.Buttons, pageButton{b.Label, buttonTexts[d.Lang][b.Label]})
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
			if err := r.ParseForm(); err != nil {
				d.Error = "too long / 長すぎます"
				render(w, http.StatusRequestEntityTooLarge, d)
				return
			}
			label, text := r.PostForm.Get("a"), strings.TrimSpace(r.PostForm.Get("t"))
			switch {
			case label != "" && !classify.ValidLabel(label):
				d.Error = "unknown answer"
			case label == "" && text == "":
				d.Error = d.T.Free
			case !utf8.ValidString(text) || utf8.RuneCountInString(text) > 1000:
				d.Error = "too long / 長すぎます"
			}
			if d.Error != "" {
				render(w, http.StatusBadRequest, d)
				return
			}
			if c.Status != CheckActive {
				d.Error = d.T.Expired
				render(w, http.StatusGone, d)
				return
			}
			rp := Reply{EventID: "web:" + randomHex(12), CheckID: checkID, ResidentID: residentID, Channel: "web", Button: label, Text: text, At: s.now()}
			if label != "" {
				rp.Text = ""
				if text != "" {
					// A button with a note: the note is classified too, so
					// "safe" plus "but my father is trapped" is not lost.
					rp.Button, rp.Text = "", buttonTexts["en"][label]+". "+text
				}
			}
			if _, err := s.Accept(ctx, "web", rp); err != nil {
				s.log.Error("reply page accept", "err", err)
				d.Error = "server busy, please retry / しばらくしてからもう一度"
				render(w, http.StatusServiceUnavailable, d)
				return
			}
			d.Done = true
		}
		render(w, http.StatusOK, d)
	})
}

func render(w http.ResponseWriter, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = replyTmpl.Execute(w, d)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
