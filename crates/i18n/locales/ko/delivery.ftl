# 배달: 큐 관리자, `authrelay queue`, `authrelay dkim`.
err-delivery = 배달을 시작할 수 없습니다({ $reason }). `authrelay config check`로 [delivery] 및 [[routes]] 설정을 확인하세요.
queue-state-active = 진행 중
queue-state-deferred = 지연됨
queue-state-held = 보류됨
queue-state-throttled = 속도 제한 대기
queue-state-done = 완료
queue-state-new = 새 메시지
queue-state-counts = 상태별: { $summary }
queue-recipients = 받는 사람:
queue-retry-requested = { $id }: 재시도를 요청했습니다. 실행 중인 서버가 몇 초 안에 대기 중인 받는 사람에게 다시 배달합니다.
queue-retry-all = { $count ->
   *[other] 메시지 { $count }개에 재시도를 요청했습니다.
}
queue-held = { $id } 메시지를 보류했습니다. `authrelay queue release { $id }`를 실행할 때까지 배달하지 않습니다.
queue-released = { $id } 메시지의 보류를 해제했습니다. 예정대로 배달합니다.
queue-deleted = { $id } 메시지를 큐에서 삭제했습니다. 배달하지 않으며 반송 메일도 보내지 않습니다.
dkim-generated = { $domain }의 { $algorithm } DKIM 키를 선택기 { $selector }(으)로 만들었습니다: { $path }
dkim-publish = 이 TXT 레코드를 { $domain }의 DNS에 게시하세요. 지금부터 외부로 보내는 { $domain } 메일에 서명합니다.
err-dkim-exists = { $domain }에 선택기 { $selector }의 DKIM 키가 이미 있습니다({ $path }). 다른 --selector를 쓰거나, 키를 바꾸려면 그 파일을 삭제하세요.
err-dkim-bad-selector = "{ $selector }"은(는) 올바른 선택기가 아닙니다. 영문자, 숫자, "-"만 63자 이내로 쓰세요.
err-dkim-algorithm = "{ $algorithm }"은(는) DKIM 키 종류가 아닙니다. --algorithm rsa 또는 --algorithm ed25519를 쓰세요.
err-dkim = DKIM 키를 만들 수 없습니다({ $reason }). 데이터 디렉터리에 쓸 수 있는지 확인하세요.

## Bounces (crates/delivery/src/dsn.rs): the part for people
dsn-subject = 배달되지 않은 메일 반송
dsn-intro = { $host }의 메일 시스템에서 보내는 메시지입니다.
dsn-not-delivered = 메시지를 받는 사람 { $count }명에게 배달하지 못했습니다.
dsn-reply-quoted = 받는 쪽 서버의 응답을 받는 사람마다 그대로 인용합니다.
dsn-remote-host = 호스트 { $host }
dsn-last-attempt = 마지막 시도 { $time }
dsn-graph-too-large = Microsoft Graph는 base64로 최대 4MB(메시지로는 약 3MB)까지만 받습니다. 더 작게 해서 다시 보내거나 관리자에게 SMTP 경로를 요청하세요.
dsn-graph-refused = Microsoft Graph가 이 메시지를 거부했습니다. 오류 코드와 내용은 위에 인용되어 있습니다.
dsn-english-follows = 영어 원문
queue-rcpt-pending = 대기 중
queue-rcpt-delivered = 배달됨
queue-rcpt-failed = 실패

## authrelay oauth keygen
oauth-keygen-done = OAuth 인증서 자격 증명용 키와 자체 서명 인증서를 만들었습니다:
    인증서: { $certificate }
    개인 키: { $key } (이 서버만 필요하며 이 컴퓨터 밖으로 나가지 않습니다)
oauth-keygen-thumbprints = 지문(SHA-1, Entra 관리 센터에 표시되는 값): { $sha1 }
    x5t#S256(모든 클라이언트 어설션에 들어감): { $s256 }
oauth-keygen-expires = 인증서는 { $date }까지 유효합니다. 그 전에 새 인증서를 만들어 업로드하세요.
oauth-keygen-route = 아래 인증서를 앱 등록에 업로드한 뒤(Entra 관리 센터 › 앱 등록 › 해당 앱 › 인증서 및 비밀 › 인증서 › 인증서 업로드) 경로에 다음을 넣으세요:
    client_certificate_file = "{ $certificate }"
    client_key_file = "{ $key }"
err-oauth-keygen-exists = { $path }이(가) 이미 있습니다. 옮기거나 --out으로 다른 디렉터리를 고르세요.
err-oauth-keygen-days = { $days }일은 유효 기간이 아닙니다. --days에 1에서 3650 사이를 쓰세요.
err-oauth-keygen = 키를 만들지 못했습니다({ $reason }). 디렉터리에 쓸 수 있는지 확인하세요.

## Route credentials and presets: config check problems (crates/config/src/problem.rs holds the English texts)
config-problem-oauth-credential = auth = "xoauth2"에는 자격 증명이 필요합니다: client_certificate_file과 client_key_file, client_secret_file(첫 줄) 또는 client_secret, 또는 service_account_file(Google)
config-problem-credential-one = 자격 증명은 하나만 설정하세요: 클라이언트 암호, 인증서, 서비스 계정 키 중 하나
config-problem-certificate-pair = client_certificate_file과 client_key_file을 모두 설정하세요(authrelay oauth keygen이 둘 다 만듭니다)
config-problem-no-certificate = { $a }에 PEM 인증서가 없습니다
config-problem-no-rsa-key = { $a }에 RS256에 쓸 수 있는 RSA 개인 키(PEM)가 없습니다
config-problem-service-account-file = { $a }은(는) Google 서비스 계정 키 파일(client_email과 private_key가 있는 JSON)이 아닙니다
config-problem-google-service-account = Google에는 클라이언트 자격 증명 부여가 없습니다. service_account_file에 서비스 계정의 JSON 키(도메인 전체 위임 포함)를 설정하세요
config-problem-preset = "{ $a }"은(는) 프리셋이 아닙니다. { $b } 중 하나를 쓰세요
config-problem-preset-tenant = 프리셋 "{ $a }"에는 tenant = "<테넌트 ID 또는 contoso.onmicrosoft.com>"이 필요합니다
config-problem-tenant = "{ $a }"은(는) 테넌트 ID나 도메인이 아닙니다
config-problem-route-kinds = "{ $a }"은(는) 경로 종류가 아닙니다. "smarthost", "graph" 또는 "mx"를 쓰세요
config-problem-graph-preset = graph 경로의 preset은 "microsoft365"이거나 없어야 합니다("{ $a }"은(는) 안 됩니다)
config-problem-graph-keys = graph 경로는 OAuth로만 로그인하며 host, port, tls, 암호를 쓰지 않습니다
config-problem-graph-only = save_to_sent_items와 graph_url은 kind = "graph" 경로에만 씁니다
config-problem-rewrite-sender = "off", "envelope", "from", "both" 중 하나여야 합니다
config-problem-sender-identity = rewrite_sender에는 릴레이 ID가 필요합니다. sender_identity(또는 user)를 업스트림이 보내도록 허용하는 주소로 설정하세요
config-problem-send-as = "{ $a }"은(는) 주소나 @도메인이 아닙니다
