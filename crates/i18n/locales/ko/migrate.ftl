# authrelay import m365 / import status (crates/migrate), 설정 안내서, 관리 센터 페이지.

## 내보낸 파일 읽기 오류
import-err-read = { $file }을(를) 읽을 수 없습니다: { $reason }.
import-err-encoding = { $file }은(는) UTF-8도 UTF-16도 아닌 텍스트입니다. CSV(UTF-8)로 다시 내보내거나 PowerShell에서 Export-Csv에 -Encoding UTF8을 추가하세요.
import-err-empty = { $file }에 머리글 줄이 없습니다. 열 이름을 포함해 보고서를 다시 내보내세요.
import-err-syntax = { $file } { $line }번째 줄을 CSV로 읽을 수 없습니다: { $reason }.
import-err-missing-column = { $file }에 "{ $column }" 열이 없습니다(있는 열: { $found }). 그 열을 포함해 다시 내보내거나 --column { $key }=머리글 로 열 이름을 지정하세요.
import-err-no-such-column = { $file }에 "{ $header }"(이)라는 열이 없습니다(있는 열: { $found }). --column 값을 확인하세요.
import-err-bad-value = { $file } { $line }번째 줄, "{ $column }" 열: "{ $value }"을(를) 읽을 수 없습니다. 그 칸을 고치거나 보고서를 다시 내보내세요.
import-err-domain-mismatch = { $file } { $line }번째 줄: { $address }은(는) 옆에 적힌 도메인 "{ $domain }"에 속하지 않습니다. 그 행을 고치세요.
import-err-conflict = { $file } { $line }번째 줄: { $address }이(가) 다른 SmtpClientAuthenticationDisabled 값으로 다시 나옵니다. 사서함마다 한 행만 남기세요.
import-err-no-senders = { $file }에 보낸 사람이 없습니다. 보고서에서 더 긴 기간(최대 90일)을 고른 뒤 다시 내보내세요.
import-err-bad-site = "{ $value }"은(는) 도메인=CIDR, 주소=CIDR, CIDR 형식이 아닙니다. 예: --site-cidr contoso.com=192.0.2.0/24.
import-err-bad-column = "{ $value }"은(는) 키=머리글 형식이 아닙니다. 키는 다음 중 하나입니다: { $keys }.
import-err-bad-org-name = "{ $value }"은(는) 조직 이름으로 쓸 수 없습니다. 제어 문자 없이 1~64자로 쓰세요.
import-err-directory = 디렉터리가 변경을 거부했습니다: { $reason }.
err-import-needs-sheets = --apply는 장치 자격 증명 { $count }개를 발급하며 이 값은 한 번만 표시됩니다. 설정 안내서를 저장하려면 --sheets 디렉터리를 추가하세요.
err-import-sheets-dir = 설정 안내서를 { $dir }에 쓸 수 없습니다: { $reason }.
err-import-stopped = 가져오기가 변경 { $count }건 후에 멈췄습니다: { $reason }. 원인을 고친 뒤 같은 명령을 다시 실행하세요. 이미 한 변경은 유지되고 두 번 하지 않습니다.
err-import-not-done = 가져온 보낸 사람 { $total }명 중 { $pending }명이 아직 장치 자격 증명으로 로그인하지 않았습니다.

## 계획
import-plan-title = 가져오기 계획(시험 실행: 아무것도 바꾸지 않습니다. 적용하려면 --apply를 추가하세요):
import-plan-title-apply = 가져오는 중:
import-plan-orgs = 조직:
import-plan-org-create = { "  " }조직 "{ $name }"을(를) 도메인 { $domains }(으)로 만듭니다
import-plan-org-exists = { "  " }조직 "{ $name }"이(가) 이미 있습니다({ $domains })
import-plan-org-add-domain = { "  " }도메인 { $domain }을(를) "{ $name }"에 추가합니다
import-plan-org-smtp-auth-change = { "    " }인증된 SMTP(조직 전체): { $before } → { $after }, Microsoft 365와 같게(SmtpClientAuthenticationDisabled = { $value })
import-plan-org-smtp-auth-same = { "    " }인증된 SMTP(조직 전체): { $after }, Microsoft 365와 같음
import-plan-org-smtp-auth-none = { "    " }인증된 SMTP(조직 전체): { $after } (--org-settings 파일이 없어 그대로 옮기지 않음)
import-plan-local-domains = { "  " }참고: 이제부터 authrelay는 { $domains } 앞으로 온 메일을 자체 사서함에 배달하고, 모르는 주소는 거부합니다. 이 도메인의 동료에게 메일을 보내는 장치는 여기서 가져온 사서함으로만 계속 보낼 수 있습니다.
import-plan-senders = 보낸 사람({ $count }):
import-plan-sender = { "  " }{ $address }: 메시지 { $messages }개; TLS 1.0 { $tls10 }, TLS 1.1 { $tls11 }, TLS 1.2 { $tls12 }
import-plan-mailbox-create = 사서함: "{ $org }"에 만듦
import-plan-mailbox-exists = 사서함: "{ $org }"에 이미 있음
import-plan-smtp-auth = 인증된 SMTP: Microsoft 365에서 { $m365 }; 여기서는 { $before } → { $after } ({ $effective })
import-m365-true = True(사서함에서 사용 안 함)
import-m365-false = False(사서함에서 사용)
import-m365-unset = 비어 있음(조직 설정을 따름)
import-m365-absent = 사서함 내보내기에 없음
import-effective-on-mailbox = 사용, 사서함에서 설정
import-effective-on-org = 사용, 조직 설정을 따름
import-effective-off-mailbox = 사용 안 함, 사서함에서 설정
import-effective-off-org = 사용 안 함, 조직 설정을 따름
import-plan-credential-create = 장치 자격 증명 "{ $name }": 만듦(모든 주소에서 사용 가능)
import-plan-credential-create-allow = 장치 자격 증명 "{ $name }": 만듦, { $allow }에서만 사용 가능
import-plan-credential-exists = 장치 자격 증명 "{ $name }": 이미 있음, 바꾸지 않음
import-plan-basic = Microsoft 365에서 기본 인증(암호)을 사용했습니다
import-plan-oauth = Microsoft 365에서 OAuth를 사용했습니다. 여기서도 OAuth로 로그인할 수 있지만([oauth] 참고) 장치 자격 증명도 발급합니다
import-plan-protocol-unknown = 보고서에 인증 프로토콜 열이 없어 기본 인증으로 간주합니다
import-plan-from-export = 보고서에는 없지만 Microsoft 365에서 이 사서함의 SMTP AUTH가 켜져 있습니다
import-plan-legacy = ⚠ TLS 1.0({ $tls10 }) 또는 1.1({ $tls11 })을 사용했습니다: authrelay는 TLS 1.2와 1.3만 받으므로 레거시 리스너가 필요합니다. 먼저 장치 펌웨어를 업데이트하세요(설정 안내서 참고)
import-plan-inactive = 보고서 기간 동안 아무것도 보내지 않았습니다. 제외하려면 --skip-inactive를 추가하세요
import-plan-skipped = 제외됨(--skip-inactive): 보고서 기간 동안 아무것도 보내지 않음
import-plan-blocked-smtp-auth = ⚠ 여전히 거부됩니다: 여기서 이 사서함의 인증된 SMTP가 꺼져 있습니다. 해결: authrelay user set { $address } --smtp-auth enabled
import-plan-blocked-policy = ⚠ 여전히 거부됩니다: "{ $org }"이(가) 장치 자격 증명을 차단합니다. 해결: authrelay org set "{ $org }" --device-credentials allowed
import-plan-blocked-sign-in = ⚠ 여전히 거부됩니다: 이 사용자의 로그인이 차단되어 있습니다. 해결: authrelay user set { $address } --sign-in allowed
import-plan-not-imported = { "  " }사서함 내보내기의 다른 사서함 { $count }개는 SMTP AUTH로 보낸 적도, SMTP AUTH가 켜진 적도 없어 가져오지 않습니다.
import-plan-summary = 가져올 보낸 사람 { $senders }명: 기본 인증 사용 { $basic }명, 레거시 리스너 필요(TLS 1.0/1.1) { $legacy }명, 보고서 기간에 보낸 것 없음 { $inactive }명(제외 { $skipped }명).
import-plan-changes = 변경 { $changes }건. 같은 명령에 --apply --sheets 디렉터리를 붙여 실행하면 변경하고 장치마다 설정 안내서를 만듭니다.
import-plan-nothing = 바꿀 것이 없습니다: 이 파일의 내용은 모두 이미 가져왔습니다.
import-applied = 완료: 변경 { $count }건.
import-applied-nothing = 바뀐 것이 없습니다: 이 파일의 내용은 모두 이미 가져왔습니다.
import-sheets-written = 설정 안내서 { $count }장을 { $dir }에 썼습니다(index.html에 한 장씩 모두 들어 있음). 각 안내서의 장치 자격 증명은 다시 표시되지 않습니다. 인쇄한 뒤 파일을 지우세요.
import-next-status = 전환 진행 상황은 `authrelay import status`로 확인하세요.

## 점검표
import-status-none = 아직 가져온 것이 없습니다. `authrelay import m365 --report 파일.csv`로 시작하세요.
import-status-header = 보낸 사람                          조직             상태           세부 정보
import-state-done = 완료
import-state-failing = 계속 실패
import-state-not-seen = 아직 없음
import-state-no-credential = 자격 증명 없음
import-status-done = { $when }에 { $ip }에서 장치 자격 증명으로 로그인함
import-status-failing = 마지막 시도가 { $when }에 { $ip }에서 "{ $check }" 검사로 거부됨({ $reply }). authrelay doctor { $address } --explain-last 를 실행하세요
import-status-not-seen = 가져온 뒤 로그인 기록 없음
import-status-no-credential = 장치 자격 증명 "{ $name }"이(가) 폐기되었습니다. 새로 발급하려면 다시 가져오세요
import-status-legacy = { " " }(레거시 리스너 필요: TLS 1.0/1.1)
import-status-summary = 보낸 사람 { $total }명 중 { $done }명 완료, { $failing }명 계속 실패, { $waiting }명 아직 없음.

## 설정 안내서
sheet-title-all = 설정 안내서(장치 { $count }대)
sheet-heading = 설정 안내서: { $address }
sheet-intro = 장치의 이메일(SMTP) 설정에 아래 값을 입력하세요. 이 장치는 Microsoft 365 대신 authrelay를 거쳐 "{ $org }"의 { $address }(으)로 보냅니다.
sheet-server = SMTP 서버
sheet-port = 포트
sheet-port-alt-tls = 또는 SSL/TLS로 { $port }
sheet-tls = 암호화
sheet-tls-starttls = STARTTLS(흔히 "TLS"로 표시), TLS 1.2 이상
sheet-tls-implicit = SSL/TLS(암시적 TLS), TLS 1.2 이상
sheet-auth = SMTP 인증
sheet-auth-value = 켬: LOGIN 또는 PLAIN("POP before SMTP" 아님)
sheet-user = 사용자 이름
sheet-password = 암호
sheet-from = 보낸 사람(From) 주소
sheet-allowed-from = 사용 가능한 위치
sheet-allow-any = 모든 주소
sheet-qr = QR 코드에는 같은 설정이 텍스트로 들어 있어 휴대폰이나 QR 코드를 읽는 장치에서 쓸 수 있습니다.
sheet-once = 이 암호는 장치 자격 증명으로, 이 안내서에만 인쇄되고 다시 표시되지 않습니다. 안내서를 암호처럼 보관하고 설정 후 파쇄하세요.
sheet-credential-note = 장치 자격 증명 "{ $name }"(태그 { $tag })입니다. 이 주소로 메일을 보낼 때만 쓸 수 있고 다른 곳에는 로그인할 수 없습니다. 잃어버리면 폐기하고 새로 발급합니다.
sheet-legacy-heading = ⚠ 이 장치는 Microsoft 365에서 오래된 TLS를 사용했습니다
sheet-legacy-body = Microsoft 365 보고서에 따르면 { $address }은(는) TLS 1.0({ $tls10 }) 또는 TLS 1.1({ $tls11 })로 보냈습니다. authrelay는 TLS 1.2와 1.3만 받으므로 이 장치에는 펌웨어 업데이트나 레거시 리스너가 필요합니다.
sheet-tls10-heading = 장치가 TLS 1.0만 지원한다면
sheet-tls10-body = authrelay는 TLS 1.2와 1.3만 받습니다. 더 새로운 버전을 지원하지 않는 장치는 로그인 전에 TLS 핸드셰이크에서 실패하므로 로그인 기록에 아무것도 남지 않습니다.
sheet-tls-fix = 조치: 제조사의 최신 펌웨어를 설치하고 보안 설정에서 TLS 1.2를 켜세요(2016년 이후 나온 프린터는 대부분 가능합니다). TLS 1.2를 지원하는 펌웨어가 없으면 관리자에게 레거시 리스너를 요청하거나(authrelay README의 "Moving from Microsoft 365 before basic auth switches off" 참고) 장치를 교체하세요.
sheet-check-heading = 설정 후 확인
sheet-check-body = 테스트 스캔이나 메시지를 보낸 뒤 관리자가 다음을 실행합니다:

## 관리 센터
nav-import = Microsoft 365에서 가져오기
nav-import-status = 전환 점검표
web-import-intro = Microsoft 365에서 내보낸 파일을 올리고, 계획을 확인하고, 적용한 뒤 장치마다 설정 안내서를 인쇄하세요. 적용을 누르기 전에는 아무것도 바뀌지 않습니다.
web-import-report = SMTP AUTH 클라이언트 보고서(CSV, 필수)
web-import-mailboxes = Get-CASMailbox 내보내기(CSV, 선택)
web-import-org = Get-TransportConfig 출력(CSV, 텍스트 또는 JSON, 선택)
web-import-org-name = 새 조직의 이름(선택)
web-import-sites = 사이트별 허용 주소 범위(선택, 한 줄에 하나: 도메인=CIDR, 주소=CIDR 또는 CIDR)
web-import-skip-inactive = 보고서 기간 동안 아무것도 보내지 않은 보낸 사람 제외
web-import-server = 안내서에 적을 SMTP 서버 이름
web-import-plan-button = 계획 보기
web-import-apply-button = 적용하고 설정 안내서 만들기
web-import-plan-title = 계획
web-import-nothing = 바꿀 것이 없습니다: 이 파일의 내용은 모두 이미 가져왔습니다.
web-import-changes = 변경 { $changes }건이 적용됩니다.
web-import-col-sender = 보낸 사람
web-import-col-messages = 메시지
web-import-col-tls = TLS 1.0 / 1.1 / 1.2
web-import-col-auth = 인증
web-import-col-smtp-auth = 인증된 SMTP
web-import-col-credential = 장치 자격 증명
web-import-col-notes = 참고
web-import-applied-title = 가져오기 완료
web-import-sheets-title = 설정 안내서
web-import-sheets-once = 아래 설정 안내서에는 장치 자격 증명이 한 번만 표시됩니다. 지금 인쇄하거나 내려받으세요. 다시 만들 수 없습니다(새로 받으려면 자격 증명을 폐기하고 다시 가져오세요).
web-import-download = 설정 안내서 내려받기(HTML)
web-import-print = 인쇄
web-import-no-sheets = 발급된 장치 자격 증명이 없어 새 설정 안내서가 없습니다.
web-import-status-intro = 가져온 보낸 사람마다 장치가 장치 자격 증명으로 로그인했는지 보여 줍니다. 모든 줄이 완료이면 전환이 끝난 것입니다.
web-import-col-state = 상태
web-import-col-detail = 세부 정보
web-import-col-org = 조직
action-import-m365-sender = Microsoft 365에서 가져옴(장치 자격 증명)
