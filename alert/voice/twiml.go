package voice

import (
	"strings"
)

// Prompts are the fixed sentences of a safety-check call in one language.
type Prompts struct {
	// Question asks whether the person is safe (used when the check's own
	// question is the default one, which talks about buttons).
	Question string
	// Keys explains the answers: speak, or press 1, 2 or 3 (see Digits).
	Keys string
	// NotHeard is said when nothing was heard, before asking once more.
	NotHeard string
	// Goodbye ends a call in which nothing was heard twice.
	Goodbye string
	// NotUnderstood is said when a key other than 1, 2 or 3 was pressed.
	NotUnderstood string
	// Thanks confirms that the answer was recorded.
	Thanks string
	// Urgent follows Thanks when the answer says the person is hurt or
	// needs help.
	Urgent string
	// NotRecorded is said when the answer could not be stored.
	NotRecorded string
	// Ended is said when the check is over or the call is not known.
	Ended string
	// Cancelled is said when the alert of the call was cancelled.
	Cancelled string
}

var prompts = map[string]Prompts{
	"ja": {
		Question:      "港区から安否確認のお電話です。ご無事ですか。",
		Keys:          "今の状況をお話しください。または、無事なら1、けがをしているなら2、助けが必要なら3を押してください。",
		NotHeard:      "お答えが聞き取れませんでした。もう一度お聞きします。",
		Goodbye:       "お答えが聞き取れませんでした。後ほど改めてご連絡します。",
		NotUnderstood: "その番号はわかりませんでした。",
		Thanks:        "お答えいただき、ありがとうございました。港区災害対策本部に伝えました。",
		Urgent:        "救助の手配を進めます。命に関わる場合は119番に電話してください。",
		NotRecorded:   "申し訳ありません。ただいまお答えを記録できませんでした。後ほど改めてご連絡します。",
		Ended:         "港区からのお知らせです。この安否確認は終了しました。お電話ありがとうございました。",
		Cancelled:     "港区からのお知らせです。先ほどの通知は取り消されました。",
	},
	"ja-easy": {
		Question:      "みなとくから でんわ です。あなたは だいじょうぶ ですか。",
		Keys:          "いまの ようすを はなして ください。または、だいじょうぶなら 1、けがを していたら 2、たすけが ひつようなら 3を おして ください。",
		NotHeard:      "こたえが きこえません でした。もう いちど ききます。",
		Goodbye:       "こたえが きこえません でした。あとで また でんわ します。",
		NotUnderstood: "その ばんごうは わかりません でした。",
		Thanks:        "こたえて くれて ありがとう ございました。みなとくに つたえました。",
		Urgent:        "たすけに いく じゅんびを します。いのちが あぶない ときは 119に でんわ して ください。",
		NotRecorded:   "ごめんなさい。いま こたえを きろく できません でした。あとで また でんわ します。",
		Ended:         "みなとくです。この あんぴ かくにんは おわりました。ありがとう ございました。",
		Cancelled:     "みなとくです。さっきの おしらせは とりけしに なりました。",
	},
	"en": {
		Question:      "This is a safety check call from Minato City. Are you safe?",
		Keys:          "Please tell us how you are. Or press 1 if you are safe, 2 if you are injured, 3 if you need help.",
		NotHeard:      "We could not hear your answer. We will ask once more.",
		Goodbye:       "We could not hear your answer. We will contact you again later.",
		NotUnderstood: "We did not understand that key.",
		Thanks:        "Thank you for your answer. It has been passed to the Minato City disaster headquarters.",
		Urgent:        "Help is being arranged. If your life is in danger, call 119.",
		NotRecorded:   "We are sorry, your answer could not be recorded just now. We will contact you again later.",
		Ended:         "This is Minato City. This safety check has ended. Thank you.",
		Cancelled:     "This is Minato City. The earlier alert has been cancelled.",
	},
	"zh": {
		Question:      "这里是港区的安全确认电话。您平安吗？",
		Keys:          "请说出您现在的情况。或者，平安请按1，受伤请按2，需要救助请按3。",
		NotHeard:      "没有听清您的回答。我们再问一次。",
		Goodbye:       "没有听清您的回答。我们稍后会再联系您。",
		NotUnderstood: "没有识别该按键。",
		Thanks:        "感谢您的回答。已转告港区灾害对策本部。",
		Urgent:        "我们正在安排救助。如有生命危险，请拨打119。",
		NotRecorded:   "非常抱歉，暂时无法记录您的回答。我们稍后会再联系您。",
		Ended:         "这里是港区。本次安全确认已结束。谢谢。",
		Cancelled:     "这里是港区。之前的通知已取消。",
	},
	"ko": {
		Question:      "미나토구의 안부 확인 전화입니다. 무사하십니까?",
		Keys:          "지금 상황을 말씀해 주세요. 또는 무사하면 1, 다쳤으면 2, 도움이 필요하면 3을 눌러 주세요.",
		NotHeard:      "답변을 듣지 못했습니다. 한 번 더 여쭙겠습니다.",
		Goodbye:       "답변을 듣지 못했습니다. 나중에 다시 연락드리겠습니다.",
		NotUnderstood: "그 번호는 알 수 없습니다.",
		Thanks:        "답변해 주셔서 감사합니다. 미나토구 재해대책본부에 전달했습니다.",
		Urgent:        "구조를 준비하고 있습니다. 생명이 위험하면 119에 전화해 주세요.",
		NotRecorded:   "죄송합니다. 지금은 답변을 기록하지 못했습니다. 나중에 다시 연락드리겠습니다.",
		Ended:         "미나토구입니다. 이 안부 확인은 종료되었습니다. 감사합니다.",
		Cancelled:     "미나토구입니다. 앞서 보낸 알림은 취소되었습니다.",
	},
}

// PromptsFor returns the prompts of an anpi language (ja, ja-easy, en, zh,
// ko); any other language gets Japanese.
func PromptsFor(lang string) Prompts {
	if p, ok := prompts[strings.ToLower(lang)]; ok {
		return p
	}
	return prompts["ja"]
}

// Question describes the TwiML of one safety-check call attempt.
type Question struct {
	// Language is the person's anpi language.
	Language string
	// Text is what is asked first (e.g. the drill marker and the question);
	// the key instructions (Prompts.Keys) follow it inside the <Gather>.
	Text string
	// ActionURL receives the answer (SpeechResult, Confidence, Digits).
	ActionURL string
	// RedirectURL, when set, is fetched once more after a silence (the
	// second attempt); empty makes this the last attempt, which ends with
	// Prompts.Goodbye.
	RedirectURL string
	// Timeout is how many seconds of silence end the listening; 0 means
	// DefaultGatherTimeout.
	Timeout int
}

// DefaultGatherTimeout is the seconds of silence a <Gather> waits for an
// answer to start: elderly people may need a moment.
const DefaultGatherTimeout = 8

// CheckTwiML returns the TwiML of a safety-check call attempt:
//
//	<Response>
//	  <Gather input="speech dtmf" language="ja-JP" action="ACTION" method="POST"
//	          speechTimeout="auto" numDigits="1" timeout="8">
//	    <Say language="ja-JP">TEXT</Say><Say language="ja-JP">KEYS</Say>
//	  </Gather>
//	  <Say language="ja-JP">NOT HEARD</Say><Redirect method="POST">REDIRECT</Redirect>
//	</Response>
//
// On the last attempt (no RedirectURL) the silence branch says Goodbye and
// hangs up. All values are XML-escaped.
func CheckTwiML(q Question) string {
	p := PromptsFor(q.Language)
	say := Language(q.Language)
	timeout := q.Timeout
	if timeout <= 0 {
		timeout = DefaultGatherTimeout
	}
	var w strings.Builder
	w.WriteString(xmlHeader + "<Response>")
	writeGather(&w, q.Text, say, GatherLanguage(q.Language), q.ActionURL, timeout, p.Keys)
	if q.RedirectURL != "" {
		writeSay(&w, p.NotHeard, say)
		w.WriteString(`<Redirect method="POST">`)
		escape(&w, q.RedirectURL)
		w.WriteString("</Redirect>")
	} else {
		writeSay(&w, p.Goodbye, say)
		w.WriteString("<Hangup/>")
	}
	w.WriteString("</Response>")
	return w.String()
}

// SayTwiML returns a TwiML document that reads each text once, in order,
// in the Twilio voice of lang, and hangs up.
func SayTwiML(lang string, texts ...string) string {
	l := Language(lang)
	var w strings.Builder
	w.WriteString(xmlHeader + "<Response>")
	for _, t := range texts {
		if t != "" {
			writeSay(&w, t, l)
		}
	}
	w.WriteString("<Hangup/></Response>")
	return w.String()
}

// RedirectTwiML returns a TwiML document that reads text (if any) and
// fetches redirectURL for the next instructions.
func RedirectTwiML(lang, text, redirectURL string) string {
	var w strings.Builder
	w.WriteString(xmlHeader + "<Response>")
	if text != "" {
		writeSay(&w, text, Language(lang))
	}
	w.WriteString(`<Redirect method="POST">`)
	escape(&w, redirectURL)
	w.WriteString("</Redirect></Response>")
	return w.String()
}

// xmlHeader starts the TwiML documents served by anpi's webhooks.
const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>`

// ContentType is the media type of TwiML responses.
const ContentType = "text/xml; charset=utf-8"
