package classify

// lexicon is the rules' phrase table. One line per entry group:
//
//	cue LABEL: phrase | phrase ...     strong evidence for LABEL
//	weak LABEL: ...                    weak evidence (confidence 0.7 when alone)
//	neutral: ...                       swallows every shorter phrase inside it
//	negpre: ... / negpost: ...         negators before / after the cue they cancel
//	need NEED: ...                     a need noun (Needs)
//	request: ... / reqpre: ... / reqpost: ...
//	                                   lacking/asking: a need with a request nearby
//	                                   makes the reply needs_help
//	have: ... / havepre: ...           "we have it": cancels a need nearby
//	count N: ...                       the reply speaks for N people
//	counter: ...                       a counter word; the number before it counts people
//	inject: ...                        prompt-injection marker (confidence capped)
//	degree: ...                        degree adverb: a negated injury cue after it stays
//	                                   injured ("not badly hurt", "크게 다치진 않았어요")
//	self: ... / other: ...             the writer / another person: a reply with both and
//	                                   no explicit count speaks for two
//
// Phrases are normalised like the text (katakana → hiragana, width, case, ー
// dropped). A phrase starting or ending with an ASCII letter must sit on a
// word boundary; a trailing * lifts the right boundary ("injur*").
const lexicon = `
cue needs_help: ドアが開かな | ドアが開きません | ドアがあかな | ドアが開けられな | ドアを開けられな | 扉が開かな | 扉が開きません | 戸が開かな | 戸が開きません | 玄関が開かな | 玄関が開きません | 出られません | 出れません | 出られへん | 外に出られな | 外に出られません | 部屋から出られな | 部屋から出られません | 家から出られな | 家から出られません | 抜け出せな | 抜け出せません | 脱出できな | 脱出できません | 逃げ出せな
cue needs_help: 助けて | たすけて | 助けが必要 | 助けがいる | 助け求 | 助けを | 助けてくれ | 助けてけろ | 助けてつかあさい | 助けちょ | 救助 | 救出 | 救援 | 閉じ込められ | 閉じこめられ | とじこめられ | 閉じ込め | 下敷き | したじき | 挟まれ | はさまれ | はさまっ | 挟まっ | 生き埋め | 埋まっ | 埋もれ | 出られない | 出られへん | 出られん | 出れない | 出れん | でられない | 救急車 | きゅうきゅうしゃ | 119 | 意識がない | 意識がありません | 意識が無 | 意識不明 | 意識がもうろう | 息をしていない | 息してない | 息をしてない | 呼吸が苦し | 息が苦し | 息ができな | 呼吸困難 | 出血がひど | 血が止まらな | 血がとまらな | 大量出血 | 心臓が | 胸が痛 | 倒れて動かな | 倒れたまま | 至急 | 大至急 | 緊急 | 早く来て | すぐ来て | はよ来て | 早よ来て | はよきて | 早くきて | 来てください | 来てほしい | 火事 | 火が出 | 燃えて | 煙が | 倒壊 | 家が崩れ | 崩れてきて | 瓦礫 | がれき | 家具の下 | 足が抜けな | 陣痛 | 破水 | 生まれそう | 発作 | けいれん | 痙攣 | 避難できない | 避難できません | 避難できへん | 避難できん | 逃げられない | 逃げられん | 降りられない | 手伝って | 助けに来て | 救命 | 死にそう | 死んでしまう | 水が入ってきて | 取り残され | 流され | 返事がない | 返事がありません | 反応がない | 反応しない | 反応がありません | 降りられません | 降りれない | 降りられへん | 階段を降りられ | きゅうじょ | 息しとらん | 倒れている人 | 倒れてる人 | 人が倒れ
cue needs_help: door wont open | door will not open | door doesnt open | door does not open | doors wont open | door is jammed | door jammed | door is stuck | door stuck | door wont budge | cant open my door | cannot open the door | cannot open my door | unable to open the door | cant get the door open | cant get outside | cannot get outside | unable to get out | cant get out of the house | cant get out of my apartment | no way out | cant escape | cannot escape | locked in
cue needs_help: help | hlep | halp | help me | please help | need help | send help | help us | trapped | trappd | trapt | traped | pinned | buried | under the rubble | under rubble | under debris | cant get out | cannot get out | can not get out | cant open the door | stuck in the elevator | stuck in an elevator | stuck in elevator | stuck in the lift | stuck inside | stuck under | rescue | resque | rescure | ambulance | amblance | ambulence | 911 | unconscious | not breathing | cant breathe | cannot breathe | hard to breathe | trouble breathing | bleeding heavily | heavy bleeding | lots of blood | losing blood | wont stop bleeding | heart attack | chest pain | stroke | seizure | fire | smoke | collapsed | emergency | urgent | urgently | asap | sos | mayday | hurry | contractions | in labor | going into labor | cant evacuate | cannot evacuate | unable to evacuate | cant get down | come quickly | save us | save me | not responding | isnt responding | unresponsive | send someone | trapepd | tarpped
cue needs_help: 开不了门 | 门开不了 | 门打不开 | 打不开门 | 门开不开 | 门卡住 | 门被卡住 | 门被堵 | 出不了门 | 出不了 | 逃不出 | 跑不出 | 走不出去 | 无法出去 | 没法出去 | 出不去了
cue needs_help: 救命 | 救救 | 帮帮我 | 帮帮忙 | 请帮 | 需要帮助 | 需要帮忙 | 需要救援 | 求救 | 被困 | 困在 | 压在 | 压住 | 埋在 | 出不去 | 出不来 | 救护车 | 急救 | 120 | 昏迷 | 没有意识 | 失去意识 | 不省人事 | 呼吸困难 | 喘不过气 | 流血不止 | 大出血 | 血流不止 | 心脏病 | 胸口疼 | 胸口痛 | 紧急 | 快来 | 赶快来 | 火灾 | 着火 | 起火 | 冒烟 | 倒塌 | 塌了 | 要生了 | 羊水破了 | 抽搐 | 无法撤离 | 走不了了 | 下不去 | 没有反应 | 没反应
cue needs_help: 문이 안 열 | 문이 안열 | 문이 열리지 않 | 문이 안 열리 | 문이 안 열려 | 문을 못 열 | 문을 열 수 없 | 문이 열리지가 않 | 문이 잠겨서 못 | 못 나가 | 못 나와 | 못 나갑 | 못나가 | 못나와 | 나올 수 없 | 나올 수가 없 | 나갈 수가 없 | 못 빠져나 | 빠져나갈 수 없 | 빠져나올 수 없 | 밖으로 못 | 탈출 못 | 탈출할 수 없
cue needs_help: 살려 | 도와주세요 | 도와줘 | 도와 주세요 | 도움이 필요 | 도움 필요 | 구조 | 구해 | 갇혔 | 갇혀 | 갇힌 | 깔렸 | 깔려 | 매몰 | 못 나가 | 나갈 수 없 | 구급차 | 119 | 의식이 없 | 의식 없 | 의식을 잃 | 숨을 못 | 숨이 안 | 숨쉬기 힘 | 숨을 안 | 피가 멈추지 않 | 피가 멈추지 | 피가 안 멈 | 출혈이 심 | 피를 많이 | 심장 | 가슴이 아파 | 긴급 | 급해 | 빨리 와 | 빨리 좀 | 불이 났 | 화재 | 연기 | 무너졌 | 무너져 | 발작 | 경련 | 진통 | 대피할 수 없 | 대피 못 | 못 내려가 | 반응이 없
soft needs_help: 動けない | うごけない | 動けへん | 動けん | 身動きが取れ | cant move | cannot move | 动不了 | 不能动 | 못 움직 | 움직일 수 없
cue needs_help: 🆘 | 🚑 | 🚒 | 🚨
weak needs_help: 🔥 | 助け | 呼んで
neutral: 助けてもらった | 助けてもらい | 助けてもらって | 助けられた | 助けに行 | 助け合 | 手伝いに | 手伝っています | 救助されました | 救助された | 救出された | 救助隊の方 | 助けはいらない | 助けは不要 | 助けはいりません | 救助は不要 | 救助はいらない | 119番しました | 救急車を呼びました | 救急車で運ばれ | 火事ではない | 避難すれば | 避難した方が | 避難したほうが | 避難場所はどこ | どこに避難 | 避難所はどこ | 避難所どこ | 避難所を教え | 避難所の場所 | 避難所に行く必要 | 避難の必要 | 浸水 | 洪水 | 水没 | 水道局 | 水曜 | 防火 | 火曜 | 消火 | お世話に | 公園で遊 | 帰れました | 帰れた | 緊急地震速報 | 緊急速報 | 在宅酸素 | ほどではない | ほどじゃない | ほどでもない
neutral: thanks for your help | thanks for the help | thank you for your help | thank you for the help | can help | could help | help others | help neighbors | help my neighbors | helping | no help needed | dont need help | do not need help | dont need any help | helped me | helped us | was rescued | were rescued | got rescued | fire station | fire department | fire drill | no fire | smoke detector | where is the shelter | wheres the shelter | where should i go | which shelter | stay safe | safe place | is it safe | are you safe | my water broke | water broke | fireworks
neutral: 不需要帮助 | 不用帮忙 | 不需要救援 | 被救出 | 获救 | 已获救 | 避难所在哪 | 去哪里避难 | 洪水 | 注意安全 | 请注意安全 | 帮助别人 | 安全吗 | 救火车 | 消防 | 哪里有避难所 | 避难所在哪里
neutral: 안에 | 水が入って | 도움 필요 없 | 도움은 필요 없 | 구조됐 | 구조되었 | 구조 받았 | 대피소가 어디 | 어디로 대피 | 안녕 | 약간 | 약속 | 물건 | 건물 | 물론 | 선물 | 동물 | 음식물 | 개인 | 안전하세요 | 조심하세요 | 연기됐
cue injured: けが | 怪我 | 負傷 | 骨折 | 骨にひび | 捻挫 | ねんざ | 打撲 | だぼく | 切り傷 | 傷が | 傷を | すり傷 | 擦り傷 | 擦りむ | すりむ | 血が出 | 血がでて | 出血 | 流血 | 腫れ | はれて | やけど | 火傷 | 頭を打 | 頭打 | 腰を打 | 足を打 | 打った | 転んで | 転んだ | 転倒 | 骨が折 | 脱臼 | ぎっくり腰 | 折れた | 折れて | くじい | 挫い | ひねった | 捻った | 病院に運ばれ | 救急車で運ばれ | 入院 | 手当て | 治療中 | 治療を受け | 縫った | 縫う | 痛くて | 痛い | いたい | いたか | いてえ | 痛む | 痛み | 痛う | ぶつけ | 挟んで | 切った | 切って血 | 刺さっ | 負傷者 | あざ | 軽傷 | 重傷 | けが人 | 怪我人 | 負傷者
cue injured: banged up | banged my | bashed my | beat up | beaten up | bumped my | scrape | scrapes | scraped | scratches | scratched up | gash | gashed | twisted | wrenched | pulled a muscle | cracked rib | whiplash | aching | aches | banged his | banged her
cue injured: injured | injury | injuries | injur* | injred | injuerd | hurt | hurts | hurting | hert | wounded | wound | bleeding | bleed | bled | blood | broken arm | broken leg | broken ankle | broken wrist | broken bone | broken rib | broken foot | broke my | fractured | fracture | sprained | sprain | twisted my | cut my | cut on | bruised | bruise | bruises | burned | burnt | burns | burn | concussion | hit my head | hit his head | hit her head | fell down | fell and | pain | painful | in hospital | at the hospital | at hospital | to the hospital | stitches | bandage | limping | cant walk | cannot walk | can barely walk | sore | ouch | dislocated | swollen | hospitalized | glass cut | cut by glass | arm is broken | leg is broken | wrist is broken | ankle is broken | arm broken | leg broken
cue injured: 受伤 | 受了伤 | 受了点伤 | 伤了 | 伤到 | 伤口 | 骨折 | 扭伤 | 扭到 | 擦伤 | 割伤 | 划伤 | 砸伤 | 砸到 | 撞伤 | 撞到头 | 摔倒 | 摔伤 | 摔了 | 流血 | 出血 | 疼 | 痛 | 烫伤 | 烧伤 | 住院 | 伤者 | 不舒服 | 肿了 | 红肿 | 缝针 | 轻伤 | 重伤 | 伤势
cue injured: 다쳤 | 다쳐 | 다친 | 다치 | 부상 | 골절 | 부러졌 | 부러진 | 피가 나 | 피가 났 | 피 나 | 출혈 | 아파 | 아픕 | 아프 | 삐었 | 삐끗 | 화상 | 찢어졌 | 베였 | 넘어졌 | 넘어져 | 입원 | 멍이 | 부었 | 꿰맸 | 상처
cue injured: 🤕 | 🩸 | 🩹 | 🦴 | 🤒
weak injured: 🏥 | 歩けない | あるけない | 歩けへん | 歩けん | 血 | 痛
cue stranded: 帰れない | 帰れません | 帰れず | 帰れん | 帰れへん | 帰られん | 帰られへん | かえれない | 帰る手段がな | 帰る方法がな | 帰る足がな | 帰宅困難 | 帰宅難民 | きたくこんなん | 帰宅できな | 帰宅できません | 帰宅できず | 家に帰れな | 家に戻れな | 戻れない | 戻れません | 足止め | 立ち往生 | 電車が止ま | 電車止ま | 電車がとま | 電車が動かな | 電車が動いていな | 電車動かな | 電車が動いてな | 電車がない | 電車ない | 地下鉄が止ま | 運転見合わせ | 運休 | 終電 | 会社に泊 | 会社で泊 | 会社で待機 | 会社で一泊 | 職場で待機 | 職場に泊 | 職場で一夜 | 職場で過ご | 会社で過ご | 会社で夜を | 事務所に泊 | 一時滞在施設 | 滞在施設 | 帰宅支援 | 駅で待機 | 駅で足止め | 駅で動けな | 電車が止まって動けない | 電車で動けない | 電車内に閉じ込め | 車内に閉じ込め | 車内で待機 | 帰る途中で止ま | 歩いて帰れな | 家までは遠く | 会社で一夜 | で一夜を | 帰るのは無理 | 帰るのは難し | 帰れそうにな | 帰宅は明日 | 帰りは明日 | 帰る手段が | 帰る方法が | 帰る足が | 終電がない | 終電もない | 終電もなく | 終電を逃 | 終電なく
cue stranded: cant get home | cant go home | cannot get home | cannot go home | can not get home | cant get back home | unable to get home | unable to go home | no way home | no way to get home | no way back home | stranded | strnded | stranted | stuck at work | stuck at the office | stuck at the station | stuck at | stuck in | stuck on the train | stuck on a train | trains stopped | train stopped | trains are stopped | trains have stopped | trains not running | trains arent running | no trains | train service suspended | trains suspended | trains are suspended | subway stopped | subway is stopped | staying at the office | stay at the office | sleep at the office | sleeping at the office | staying at work | spend the night at | spending the night at | night at the office | night at work | temporary shelter for commuters | commuters shelter | missed the last train | too far to walk | stuck | cant get back | cannot get back | cant return | cannot return
cue stranded: 回不了家 | 回不去 | 回不了 | 不能回家 | 无法回家 | 没法回家 | 没办法回家 | 回家不了 | 滞留 | 困在车站 | 被困在车站 | 困在公司 | 被困在公司 | 电车停了 | 电车停运 | 电车不动 | 地铁停了 | 地铁停运 | 列车停运 | 停运 | 没有车 | 住在公司 | 在公司过夜 | 公司过夜 | 在车站等 | 电车也停
cue stranded: 집에 못 가 | 집에 못가 | 집에 갈 수 없 | 집에 가지 못 | 귀가 못 | 귀가할 수 없 | 귀가 곤란 | 귀가곤란 | 귀가하지 못 | 발이 묶 | 전철이 멈 | 전철이 안 | 지하철이 멈 | 지하철이 안 | 열차가 멈 | 운행 중단 | 운행중단 | 운행이 중단 | 회사에서 자 | 회사에서 밤 | 회사에서 대기 | 역에서 대기 | 역에 갇 | 전철 안에 갇 | 돌아갈 수 없 | 돌아갈 수가 없 | 못 돌아가
weak stranded: 駅にいます | 駅にいる | 駅におる | 駅です | 駅で | at the station | 车站 | 역에 있
cue evacuated: 避難 | ひなん | 避難所 | 避難場所 | 避難先 | 体育館 | 公民館 | 区民センター | 地域センター | 高台 | 逃げた | 逃げました | 逃げてきた | 身を寄せ | 疎開 | 一時避難 | 福祉避難所 | 避難済 | 退避
cue evacuated: evacuated | evacuating | evacuation center | evacuation centre | evacuation site | evacuation area | evacuation point | shelter | sheltering | refuge | left the building | left our building | left the house | got out of the building | moved to | went to the park | at the park | at the school | community center | community centre | gym | gymnasium | staying with relatives | staying with family | staying with friends | staying with my | relatives house | relatives place | friends house | friends place | parents house | parents place | evacuate | evaculated | evacuted
cue evacuated: 避难 | 避难所 | 撤离 | 疏散 | 转移到 | 体育馆 | 收容所 | 安置点 | 亲戚家 | 朋友家 | 父母家 | 逃出来 | 跑出来 | 到了空地 | 躲到
cue evacuated: 대피 | 대피소 | 피난 | 피난소 | 체육관 | 주민센터 | 친척 집 | 친척집 | 친구 집 | 친구집 | 부모님 집 | 부모님댁 | 옮겼 | 이동했
weak evacuated: 小学校 | 中学校 | 高校に | 公園 | 実家 | 親戚の家 | 親戚宅 | 知人宅 | 友人宅 | 友達の家 | 友だちの家 | 外に出 | 外にいます | 広場 | 学校 | 公园 | 空地 | 학교 | 공원 | 운동장 | school | outside | park
neutral: 避難しなくて | 避難はしない | 避難しないで | 避難する予定はない | 在宅避難 | shelter in place | sheltering in place | shelter at home | sheltering at home | 就地避难 | 在家避难 | 자택 대피 | 集合住宅 | school gym
cue safe: 在宅避難 | shelter in place | sheltering in place | shelter at home | sheltering at home | 就地避难 | 在家避难 | 자택 대피
cue safe: 無事 | ぶじ | 大丈夫 | だいじょうぶ | だいじょぶ | だいじょうぶ | 平気 | へいき | 元気 | げんき | 問題ない | 問題ありません | 問題なし | もんだいない | 安全 | 無傷 | 異常なし | 異常ありません | 異常はありません | 被害なし | 被害はありません | 被害ありません | 何ともない | 何ともありません | なんともない | なんともありません | なんともなか | 何ともなか | 心配ない | 心配いりません | 心配いらない | 心配しないで | ご心配なく | 帰宅しました | 帰宅した | 家に着いた | 家に着きました | 帰ってきた | 帰ってきました | 帰れました | 帰れた | 無事に帰 | 助けはいらない | 助けは不要 | 助けはいりません | 救助は不要 | 救助はいらない | 避難しなくて | 避難の必要はな | 大事ない | 大事無い | ぴんぴん | 変わりない | 変わりありません | 助かりました | 助かった | 大丈夫やで | 無事です | おk | 救助されました | 救助された | 救出された | 助けは要りません | 助けは必要ありません | 助けは必要ない | 助けはいらん
cue safe: safe | saef | sfae | safw | sage and sound | safe and sound | im ok | i am ok | were ok | we are ok | ok | okay | oky | okey | okk | okie | fine | fien | fin | all good | im good | we are good | were good | alright | all right | allright | no problem | no problems | unharmed | unhurt | uninjured | not injured | doing well | all well | home safe | got home | made it home | arrived home | back home | nothing happened | no damage | no injuries | nobody hurt | no one hurt | no one is hurt | nobody is hurt | dont worry | no need to worry | no worries | no help needed | dont need help | do not need help | dont need any help | were rescued | was rescued | got rescued | all accounted for | everyone is accounted for | thank god
cue safe: 平安 | 安全 | 没事 | 没事儿 | 没問題 | 没问题 | 都好 | 很好 | 一切正常 | 一切都好 | 无恙 | 安好 | 不用担心 | 别担心 | 都没事 | 到家了 | 已经回家 | 回到家 | 已经到家 | 获救 | 被救出 | 已获救 | 不需要帮助 | 不用帮忙 | 不需要救援 | 没什么事 | 好好的 | 没受伤 | 没有受伤 | 无人受伤
cue safe: 안전 | 무사 | 괜찮 | 괜춘 | 갠찮 | 괜찬 | 문제없 | 문제 없 | 별일 없 | 별 일 없 | 잘 있어 | 잘 있습니다 | 집에 도착 | 무사히 귀가 | 귀가했 | 걱정 마 | 걱정하지 마 | 걱정 안 | 도움 필요 없 | 도움은 필요 없 | 구조됐 | 구조되었 | 구조 받았 | 멀쩡
cue safe: 👍 | 🙆 | ⭕ | ✅ | 🆗 | 👌 | ✔ | 💪
weak safe: 自宅にいます | 家にいます | 家にいる | 家におる | 自宅にいる | 自宅です | 在宅 | 家です | おうちにいます | at home | im home | we are home | were home | 在家 | 집에 있 | 집이에요 | 😊 | 🙂 | ☺ | 😀 | 😄 | ✌ | 🏠 | alive | 生きてます | 生きてる
negsafe: ❌ | 🙅 | ✖ | 😱 | 😭 | 😢 | ダメ | だめ | やばい | やばい | ヤバい | 無理 | むり | 最悪 | 不安 | not good | bad | terrible | scared | afraid | 不好 | 害怕 | 怕 | 무서 | 큰일
negcue: 被害 | damage | damaged | problem | problems | 损失 | 피해 | 異常 | 事故
negpost: ない | ません | なし | 無し | 無い | 無く | なく | せず | ずに | ねえ | へん | ひん | とらん | しとらん | せん | あらへん | なかった | じゃない | ではない | ちゃう | 없 | 않 | 아니 | 아닙 | 아냐 | 아녜
negpre: not | no | nobody | noone | no one | none | dont | didnt | doesnt | wasnt | werent | isnt | arent | aint | never | without | neither | nor | 没有 | 没 | 无 | 不 | 未 | 别 | 并未 | 毫无 | 没人 | 没有人 | 안 | 아무도 | 전혀
degree: badly | seriously | severely | too badly | very badly | much | 大した | 大きな | ひどい | ひどく | 深刻な | 크게 | 심하게 | 많이 | 심한 | 심각하게
need medical: 病院 | 医者 | 医師 | お医者 | 救急 | 手当 | 治療 | 診て | みてもらいたい | どくた | 看護 | 透析 | 意識がな | 意識が無 | 意識不明 | 息が苦し | 呼吸が苦し | 出血がひど | 血が止まらな | 大量出血 | 心臓 | 発作 | 痙攣 | けいれん | 陣痛 | 破水 | 診察 | 医療
need medical: doctor | hospital | ambulance | amblance | ambulence | medic | paramedic | first aid | medical | dialysis | unconscious | not breathing | cant breathe | heavy bleeding | bleeding heavily | heart attack | chest pain | stroke | seizure | contractions | in labor | nurse
need medical: 医生 | 医院 | 救护车 | 急救 | 看病 | 透析 | 昏迷 | 呼吸困难 | 大出血 | 心脏病 | 抽搐 | 要生了 | 护士 | 医疗
need medical: 의사 | 병원 | 구급차 | 치료 | 투석 | 의식이 없 | 의식 없 | 숨을 못 | 숨쉬기 힘 | 심장 | 발작 | 진통 | 간호
need medicine: 薬 | くすり | インスリン | いんすりん | 常備薬 | 処方 | 服薬 | 降圧剤 | 吸入器 | 薬が切れ
need medicine: medicine | medicines | medication | medications | meds | pills | insulin | prescription | inhaler | epipen
need medicine: 药 | 胰岛素 | 处方 | 药品
need medicine: 약 | 인슐린 | 처방 | 흡입기
need water: 水 | みず | 飲み水 | 飲料水 | お水 | water | drinking water | 饮用水 | 喝的水 | 물 | 식수 | 💧 | 🚰
need food: 食べ物 | たべもの | 食料 | 食糧 | ごはん | ご飯 | 食事 | 食べる物 | 食べるもの | 非常食 | 食べ物も | おにぎり | 弁当 | パン | 食品 | food | something to eat | meals | meal | 食物 | 吃的 | 饭 | 粮食 | 음식 | 밥 | 먹을 것 | 먹을것 | 식량 | 🍙
need power: 人工呼吸器 | 呼吸器 | 酸素濃縮器 | 在宅酸素 | 酸素ボンベ | 酸素 | 吸引器 | 痰の吸引 | たんの吸引 | 医療機器 | 電動ベッド | 電源が必要 | 電気が必要 | 充電が必要 | 電源 | ventilator | oxygen concentrator | oxygen machine | oxygen | cpap | suction machine | medical device | need power | need electricity | 呼吸机 | 制氧机 | 氧气 | 吸痰 | 医疗设备 | 电源 | 인공호흡기 | 산소발생기 | 산소 | 석션 | 의료기기 | 전원
need mobility: 車椅子 | 車いす | くるまいす | 歩けない | あるけない | 歩けへん | 歩けん | 寝たきり | 足が不自由 | 介助 | 介護 | 要介護 | 杖 | 担架 | 階段を降りられ | 階段が降りられ | 高齢の | 一人で動けない | wheelchair | cant walk | cannot walk | can barely walk | bedridden | walker | mobility | cane | stretcher | carry her | carry him | 轮椅 | 走不了 | 不能走路 | 卧床 | 行动不便 | 瘫痪 | 휠체어 | 못 걸어 | 걸을 수 없 | 거동이 불편 | 거동 불편 | 누워만 | ♿
need infant: 赤ちゃん | あかちゃん | 乳児 | 赤ん坊 | 新生児 | 粉ミルク | 粉みるく | ミルク | みるく | おむつ | 離乳食 | 生後 | baby | babies | infant | newborn | formula | diapers | diaper | nappies | 婴儿 | 宝宝 | 奶粉 | 尿布 | 纸尿裤 | 新生儿 | 아기 | 신생아 | 분유 | 기저귀 | 👶 | 🍼
need pet: ペット | ぺっと | 犬 | いぬ | 猫 | ねこ | わんちゃん | にゃんこ | 愛犬 | 愛猫 | うさぎ | 小鳥 | dog | dogs | cat | cats | pet | pets | puppy | kitten | 宠物 | 狗 | 小狗 | 猫咪 | 반려 | 강아지 | 고양이 | 반려견 | 반려묘 | 🐶 | 🐱 | 🐕 | 🐈
request: 必要 | ひつよう | ほしい | 欲しい | 切れ | きれそう | 不足 | 困って | 尽き | 要る | いります | need | needs | needed | please bring | send | bring | lack | 需要 | 急需 | 缺 | 请送 | 想要 | 要 | 필요 | 부족 | 주세요 | 보내 | 떨어졌 | 급해 | 停電 | no electricity | no power | outage | blackout | battery | 停电 | 没电 | 정전
reqpost: ください | 下さい | 足りない | 足りません | 足りな | たりない | ない | ありません | 無い | 無く | なく | できない | できません | 止まっ | 停電 | 使えない | 使えません | 動かない | 手に入らない | 持ってきて | 届けて | 送って | もうすぐ | 不够 | 用完 | 断了 | 没了 | 停电 | 没电 | 없어 | 없습니다 | 없음 | 없고 | 없는 | 정전 | 끊겼 | 끊어 | 안 돼 | 안돼 | 止まり | 止ま | 行けない | 行けません | left
reqpre: running out | ran out | run out | out of | no | dont have | do not have | without | low on | short of | power out | power outage | outage | blackout | no power | no electricity | battery | 没有 | 没 | 停电 | 정전
have: はある | はあります | もある | もあります | がある | があります | あるので | 足りて | 十分 | 確保 | 備蓄 | 够 | 있어 | 있습니다 | 있어요 | 충분
havepre: have | has | enough | plenty of | plenty | got | 有 | 有足够
count 2: ふたり | 二人 | 夫婦 | ふうふ | 妻と | 夫と | 主人と | 嫁と | 旦那と | 母と | 父と | 息子と | 娘と | both of us | we are both | were both | my wife and i | my husband and i | me and my wife | me and my husband | my partner and i | 我们俩 | 我俩 | 两口子 | 我和妻子 | 我和丈夫 | 我和老公 | 我和老婆 | 둘 다 | 우리 둘 | 부부 | 두 사람
count 3: さんにん | 三人 | family of three | 一家三口 | 셋 다 | 셋이 | 세 식구
count 4: よにん | 四人 | family of four | 一家四口 | 넷 다 | 넷이 | 네 식구
count 5: ごにん | 五人 | family of five | 一家五口 | 다섯 식구
count 1: ひとり | 一人 | 1人 | 独り
counter: 人 | 名 | にん | 명 | 口人 | 口 | 个人 | 个 | 位 | 人とも | people | persons | of us | adults | family members
inject: ignore | ignore previous | ignore all | disregard | system: | system prompt | you are now | instructions | instruction | label | labels | set status | status: | mark everyone | mark all | everyone as | all residents | override | developer mode | jailbreak | assistant: | <reply | </reply | reply id | json | confidence | prompt | 指示を無視 | 命令を無視 | 以前の指示 | 前の指示 | しすてむ | らべる | 全員を | 全住民 | 全て安全 | すべて安全 | 上書き | 忽略 | 指令 | 系统 | 所有人 | 标记 | 标签 | 提示词 | 이전 지시 | 무시 | 시스템 | 라벨 | 모두 안전 | 지시를 | as safe | to safe | safe for all | safe for everyone | label=safe | label safe | status safe | answer safe | output safe | word safe | safe only | safeと | safeとして | 为安全 | 输出 safe | 안전으로 | safe로 | safe 로 | safe} | label: safe | status: safe | residents are safe | 状態を無事 | を無事に
# --- issue 4 (devset2): gaps found on devset2.jsonl ---
cue needs_help: 来てくださいませんか | 来ていただけませんか | 来てもらえませんか | 来てくれませんか | 避難所まで行けな | 避難所まで行かれ | 避難所に行けな | 避難所に行かれ | 避難所へ行けな | 避難所へ行かれ | 下りられな | 下りられません | 下りれな | おりられな | おりられません | 降りれません | 階段を下りられ | たすけで | 助けで | たすげで | 助げで | 苦しんで | 苦しそう | 胸を押さえ | 血がどんどん | どんどん血 | 血が止まりません | 血がとまりません | 血が止まらん | 血が止まらへん | 出血が止まらな | 出血が止まりません | 家が潰れ | 家がつぶれ | いえがつぶれ | 家つぶれ | 家潰れ | 建物が潰れ | 潰れた家 | つぶれた家 | 屋根が落ち | 天井が落ち | 天井が崩れ | ガス漏れ | ガスもれ | ガス臭 | がす臭 | ガスのにおい | ガスの臭い | 気を失 | 気絶 | 失神 | 意識を失 | 目を覚まさな | 母が倒れ | 父が倒れ | 夫が倒れ | 妻が倒れ | 主人が倒れ | 旦那が倒れ | 嫁が倒れ | 祖母が倒れ | 祖父が倒れ | おばあちゃんが倒れ | おじいちゃんが倒れ | ばあちゃんが倒れ | じいちゃんが倒れ | 子供が倒れ | 子どもが倒れ | 息子が倒れ | 娘が倒れ | 母親が倒れ | 父親が倒れ | おかんが倒れ | おとんが倒れ
cue needs_help: cant stop the bleeding | cant stop bleeding | bleeding and cant stop | bleeding wont stop | bleeding doesnt stop | bleeding wont | bleeding a lot | bleeding so much | so much blood | blood everywhere | passed out | fainted | wont wake up | not waking up | isnt waking up | doesnt wake up | cant wake him | cant wake her | gas leak | smell gas | smells like gas | smell of gas | cant use the stairs | cannot use the stairs | cant take the stairs | cant manage the stairs | cant do stairs | cant get down the stairs | house collapsed | building collapsed | roof collapsed | ceiling collapsed
cue needs_help: 晕倒 | 昏倒 | 晕过去 | 昏过去 | 叫不醒 | 醒不过来 | 被埋 | 房子倒了 | 房子塌 | 楼塌 | 燃气泄漏 | 煤气泄漏 | 煤气味 | 止不住血 | 血止不住 | 不能呼吸 | 喘不上气 | 没有呼吸 | 没呼吸 | 下不了楼
cue needs_help: 가스 냄새 | 가스가 새 | 기절 | 쓰러지셨 | 깨어나지 않 | 안 깨어나 | 숨이 막 | 못 내려와 | 계단을 못
soft needs_help: 動けな | 動けません | うごけな | うごけません | 身動きできな | 動かれへん | 動かれな
cue injured: 痛めて | 痛めた | 痛めま | たんこぶ | こぶができ | ひびが | 切りました | 突き指 | ばんそうこう | 絆創膏 | 包帯 | 足首を
cue injured: broke his | broke her | broke a | broke two | broke both | broke some | broken finger | broken fingers | broken toe | broken nose | broken hand | broken hip | broken collarbone | got cut | cut by | cut myself | cut his | cut her | cuts | deep cut | small cut | minor cut | bump on | splint
cue injured: 划了 | 划破 | 割破 | 擦破 | 割了 | 口子 | 撞了 | 磕破 | 磕伤 | 磕到 | 碰伤 | 起了个包 | 肿 | 崴 | 包扎
cue injured: 까졌 | 긁혔 | 부딪혔 | 부딪쳤 | 혹이 | 금이 갔 | 데었 | 베었
weak injured: 傷
cue safe: だいじょうび | safty | saftey
cue stranded: かえれません | かえれへん | かえれん | 帰られない | 帰られません | かえられない | 歩くのは無理 | 歩いては帰れ | 歩いて帰るのは無理 | 帰れなさそう
neutral: safe to go | safe to return | safe to stay | safe to enter | is my building safe | is my house safe | is it ok to go back | 学校と連絡 | 学校に連絡 | 学校から連絡 | 学校に電話 | 学校と電話 | 学校からの連絡
reqpost: 残りわずか | 残り少な | あと少し | あとわずか | 終わり | 終わる | 今日で | 明日で | 切れる | なくなる | なくなりそう | 取りに行けな | 取り出せな | 取りに戻れな | 残ったまま | 空っぽ | almost empty | empty | running low | almost out | dying | is out | are out | buried | 快没 | 快用完 | 用光 | 没有了 | 떨어져 | 다 썼
have: しました | してもらいました | してもらった | 受けました | を受けた | 済み | いりません | いらない | 要りません | 要らない | 不要 | ほどじゃない | ほどではない | ほどでもない | not needed | isnt needed | arent needed
havepre: no need for | no need | dont need | do not need | didnt need
need medical: 苦しんで | 苦しそう | 胸を押さえ | 血がどんどん | 出血が止まらな | 血が止まりません | 気を失 | 気絶 | 失神 | 意識を失 | 目を覚まさな | 息ができな | 母が倒れ | 父が倒れ | 夫が倒れ | 妻が倒れ | 主人が倒れ | 祖母が倒れ | 祖父が倒れ | おばあちゃんが倒れ | おじいちゃんが倒れ | cant breath | cant stop the bleeding | cant stop bleeding | bleeding and cant stop | bleeding wont stop | bleeding a lot | so much blood | passed out | fainted | wont wake up | not waking up | isnt waking up | not responding | isnt responding | unresponsive | he collapsed | she collapsed | has collapsed | just collapsed | collapsed and | 晕倒 | 昏倒 | 晕过去 | 叫不醒 | 醒不过来 | 止不住血 | 血止不住 | 不能呼吸 | 没有呼吸 | 기절 | 쓰러지셨 | 깨어나지 않 | 숨을 안 | 피가 멈추지
need mobility: cant use the stairs | cannot use the stairs | cant take the stairs | cant manage the stairs | cant do stairs | cant get down the stairs | 下りられな | 下りられません | 階段を下りられ | 下不了楼 | 계단을 못
cue needs_help: cant breath
self: 私は | わたしは | 僕は | ぼくは | 俺は | おれは | 自分は | 私も | わたしも | わしは | i | im | ive | i am | myself | 我没 | 我很 | 我还 | 我也 | 我自己 | 我是 | 我不 | 저는 | 나는 | 저도 | 나도
other: 母 | 父 | 妻 | 夫 | 主人 | 旦那 | 嫁 | 娘 | 息子 | 子供 | 子ども | 祖母 | 祖父 | おばあちゃん | おじいちゃん | ばあちゃん | じいちゃん | おかん | おとん | 隣の | 近所の | 上の階の | 兄 | 姉 | 弟 | 妹 | 孫 | wife | husband | son | daughter | mom | mum | dad | mother | father | kid | kids | child | baby | grandma | grandpa | grandmother | grandfather | neighbor | neighbour | brother | sister | partner | grandson | granddaughter | 妈 | 爸 | 妻子 | 丈夫 | 老公 | 老婆 | 孩子 | 儿子 | 女儿 | 奶奶 | 爷爷 | 外婆 | 外公 | 邻居 | 宝宝 | 엄마 | 아빠 | 어머니 | 아버지 | 남편 | 아내 | 아이 | 아들 | 딸 | 할머니 | 할아버지 | 옆집 | 이웃 | 아기
cue injured: 切ってしまっ | 切っちゃ | 手を切 | 指を切 | 足を切 | 腕を切 | 顔を切 | 頭を切 | 額を切 | おでこを切 | 膝を切 | ひざを切 | 足の裏を切 
cue needs_help: 呼吸が止ま | 息が止ま | 息をしてません | 息してません | 息をしていません | 呼吸してない | 呼吸していない | 呼吸がない | 窒息 | 息ができません | 息できない | 煙で | 煙に | 煙が充満 | 火の手 | 延焼 | 火が迫 | 火が回 | 腰まで水 | 胸まで水 | 水が腰 | 水が胸 | 水が首 | cant feel my | cannot feel my
need medical: 呼吸が止ま | 息が止ま | 息をしてません | 息してません | 息をしていません | 呼吸してない | 呼吸していない | 窒息 | 息ができません | 息できない | cant feel my | cannot feel my
neutral: 水が腰 | 水が胸 | 水が首 | 腰まで水 | 胸まで水
cue evacuated: 車中泊 | 車で寝 | 车里过夜 | 차에서 자 | 차에서 지내 | sleeping in the car | sleeping in our car | sleeping in my car | staying in our car | staying in the car | at my parents | at my sisters | at my brothers | at my friends | at a friends | at my aunts | at my relatives | at my in laws
weak evacuated: 🏫 | ⛺ | ⛺️
weak safe: walking home | on my way home | heading home | 歩いて帰宅 | 帰宅中 | 家に向かって | 回家路上 | 正在回家 | 집에 가는 중 | 걸어서 집에
cue stranded: trains are down | trains down | train is down | trains arent moving | trains not moving | train not moving | trains arent running | no train
weak stranded: 🚃 | 🚉 | 🚆 | 🚇
need medicine: 💊
weak injured: 🩼
cue safe: むじです | むじでした | 美事
cue injured: いためちゃ | いためて | いためた | いためま | 痛めちゃ
cue needs_help: isnt answering | not answering | doesnt respond | wont respond | no response from | 誰か来て | だれか来て | だれかきて | 誰かきて | 誰か助け | だれか助け | somebody come | someone come | somebody help | someone help | is anyone there | anyone there | 来人啊 | 快来人 | 누가 와 | 누구 없
neutral: answering the phone | answering her phone | answering his phone | answering my calls | answering calls | answering texts | answering my texts
cue unclear: 連絡が取れな | 連絡が取れません | 連絡がとれな | 連絡取れな | 連絡がつかな | 連絡つかな | 連絡がつきません | 帰ってこな | 帰ってきません | 帰ってきていな | 帰ってきてな | 見当たらな | 見当たりません | 行方不明 | 安否がわから | 安否不明 | cant reach | cannot reach | cant contact | cannot contact | cant get hold of | havent heard from | cant find my | cannot find my | is missing | are missing | 联系不上 | 联络不上 | 找不到 | 没有消息 | 연락이 안 | 연락 안 | 연락이 안 돼 | 못 찾 | 행방불명
reqpost: cant get there | cant get to it | cant get to them | cant reach it | cant get it | cannot get it | left at home | left behind | still at home | 行きたい | 行かないと | 連れて行って
inject: 命令は無効 | 前の命令 | 命令 | 指示 | 無視して | 出力 | 分類 | 判定して | 記録して | 報告して | 登録して | と答えて | と返して | システムへ | システムに | classify | classified | respond with | reply with | output | return label | new instructions | new task | forget | pretend | act as | you must | answer safe | mark as | mark me | set label | downgrade | low priority | 输出 | 回复 | 标为 | 标记为 | 改成 | 改为 | 无视 | 规则 | 指示 | 출력 | 바꿔 | 처리해 | 분류 | 규칙 | 명령
`
