# authrelay command-line messages (Korean). Every error says what to do next.

error-prefix = 오류:

## Errors from the directory
err-unknown-org = "{ $name }" 조직이 없습니다. `authrelay org list` 명령으로 기존 조직을 확인하거나, `authrelay org add { $name } --domain example.com` 명령으로 새로 만드세요.
err-org-exists = "{ $name }" 조직이 이미 있습니다. 다른 이름을 사용하거나, `authrelay org set { $name } ...` 명령으로 기존 조직의 설정을 변경하세요.
err-domain-taken = { $domain } 도메인은 이미 "{ $org }" 조직에 속해 있습니다. 도메인은 한 조직에만 속할 수 있으므로 사용자를 "{ $org }" 조직에 추가하세요.
err-no-org-for-domain = { $domain } 도메인이 등록된 조직이 없습니다. `authrelay org add NAME --domain { $domain }` 명령으로 조직을 만들거나, `authrelay org set NAME --add-domain { $domain }` 명령으로 기존 조직에 도메인을 추가하세요.
err-unknown-user = { $address } 사용자가 없습니다. `authrelay user list` 명령으로 기존 사용자를 확인하거나, `authrelay user add { $address }` 명령으로 새로 만드세요.
err-user-exists = { $address } 사용자가 이미 있습니다. `authrelay user set { $address } ...` 명령으로 설정을 변경하거나, `authrelay user password { $address } --password-stdin` 명령으로 암호를 재설정하세요.
err-unknown-app-password = { $address } 사용자에게는 이름이 "{ $name }"인 앱 암호가 없습니다. `authrelay app-password list { $address }` 명령으로 이 사용자의 앱 암호 목록을 확인하세요.
err-app-password-exists = { $address } 사용자에게 이름이 "{ $name }"인 앱 암호가 이미 있습니다. 다른 이름을 사용하거나, `authrelay app-password revoke { $address } --name { $name }` 명령으로 기존 앱 암호를 먼저 폐기하세요.
err-too-many-app-passwords = { $address } 사용자의 앱 암호가 허용되는 최대 개수인 40개에 도달했습니다. `authrelay app-password revoke { $address } --name NAME` 명령으로 사용하지 않는 앱 암호를 폐기하세요.
err-storage = 데이터베이스를 읽거나 쓸 수 없습니다({ $reason }). 데이터 디렉터리가 쓰기 가능하고 여유 공간이 있는 디스크에 있는지 확인한 후 다시 시도하세요.

## Errors about files, the network and configuration
err-spool = { $path }에 있는 큐를 사용할 수 없습니다({ $reason }). 디렉터리 권한과 디스크 여유 공간을 확인하세요.
err-shared-queue = PostgreSQL의 공유 큐를 사용할 수 없습니다({ $reason }). [store] url의 데이터베이스가 응답하는지 확인하세요(`authrelay store migrate --check`로 연결과 스키마를 점검할 수 있습니다).
err-tls = TLS 인증서를 로드할 수 없습니다({ $reason }). 구성의 tls.cert 및 tls.key 항목을 수정하거나, 자체 서명된 인증서를 사용하려면 두 항목을 모두 제거하세요.
err-listen = 수신 대기 포트를 열 수 없습니다({ $reason }). 다른 프로그램이 해당 포트를 사용 중일 수 있습니다. --submission ADDR / --submissions ADDR 옵션으로 다른 포트를 지정하세요.
err-data-dir = { $path } 데이터 디렉터리를 사용할 수 없습니다({ $reason }). --data-dir DIR 옵션이나 AUTHRELAY_DATA_DIR 환경 변수로 다른 디렉터리를 지정하세요.
err-config = 구성에 다음 문제가 있습니다:
    { $problems }
    문제를 수정한 후 `authrelay config check` 명령으로 다시 확인하세요.
err-io = 출력을 쓸 수 없습니다({ $reason }).
config-ok = 구성이 올바릅니다. 현재 적용되는 설정:

## Errors in what was typed
err-bad-address = "{ $address }" 주소는 메일 주소로 사용할 수 없습니다: { $reason }. name@example.com 형식으로 입력하세요.
err-bad-domain = "{ $domain }" 값은 도메인 이름이 아닙니다. @ 기호나 공백 없이 example.com 형식으로 입력하세요.
err-bad-org-name = 조직 이름은 제어 문자(줄바꿈, 이스케이프) 없이 1~64자여야 합니다(예: "Contoso").
err-nothing-to-set = 변경할 항목이 없습니다. `{ $command }`에 옵션을 하나 이상 지정하세요. 옵션 목록은 `--help`에서 확인할 수 있습니다.
err-bad-app-password-name = 앱 암호에는 제어 문자(줄바꿈, 이스케이프) 없이 1~64자의 이름이 필요합니다(예: --name "사무실 스캐너").
err-password-stdin = 표준 입력으로 암호가 전달되지 않았습니다. 파이프로 암호를 전달하세요. 예: printf '%s\n' '사용할 암호' | authrelay user password ADDRESS --password-stdin
err-password-too-short = 암호가 너무 짧습니다. { $min }자 이상으로 설정하거나, --password-stdin 없이 실행하여 authrelay가 강력한 암호를 생성하도록 하세요.
err-password-few-kinds = 암호가 너무 단순합니다. 영문 소문자, 영문 대문자, 숫자, 기호 중 세 종류 이상을 섞어 쓰거나, 20자 이상의 암호 문구를 사용하세요.
err-password-contains-address = 암호에 사용자 본인의 이름이 포함되어 있습니다. 이름이 들어가지 않은 암호를 사용하세요.
err-password-common = 공격자가 가장 먼저 시도하는 암호 목록에 포함된 암호입니다. 흔하지 않은 암호를 사용하세요.
err-bad-queue-id = "{ $id }" 값은 큐 ID가 아닙니다. 큐 ID는 `authrelay queue list` 명령에 표시되는 것처럼 0-9와 A-F로 이루어진 20자입니다.
err-queue-not-found = 큐에 { $id } 메시지가 없습니다. 이미 배달되었을 수 있으니 `authrelay queue list` 명령으로 확인하세요.

## Organisations
org-created = { $domains } 도메인용 "{ $name }" 조직을 만들었습니다.
org-created-next = 새 조직은 Microsoft 365 테넌트와 마찬가지로 보안 기본값은 켜지고 SMTP AUTH는 꺼진 상태로 시작합니다. `authrelay user add someone@{ $domain }` 명령으로 사서함을 추가하세요.
org-updated = "{ $name }" 조직을 업데이트했습니다.
org-none = 아직 조직이 없습니다. `authrelay org add NAME --domain example.com` 명령으로 조직을 만드세요.

## Users
user-created = "{ $org }" 조직에 { $address } 사용자를 만들었습니다.
user-password-generated = 생성된 암호(지금만 표시되므로 장치 설정에 저장해 두세요):
user-created-next = 장치가 { $address } 주소로 메일을 보내도록 하려면 `authrelay user show { $address }` 명령으로 무엇이 발송을 막고 있는지 확인하세요.
user-updated = { $address } 사용자를 업데이트했습니다.
user-password-set = { $address } 사용자의 암호를 변경했습니다. 이전 암호를 사용하는 장치는 새 암호로 업데이트할 때까지 535 5.7.139 오류로 실패합니다.
user-none = 아직 사용자가 없습니다. `authrelay user add name@example.com` 명령으로 사용자를 만드세요.
smtp-auth-effective-on-mailbox = 적용 상태: 사용, 이 사서함에서 설정됨
smtp-auth-effective-on-org = 적용 상태: 사용, 조직 설정을 따름
smtp-auth-effective-off-mailbox = 적용 상태: 사용 안 함, 이 사서함에서 설정됨
smtp-auth-effective-off-org = 적용 상태: 사용 안 함, 조직 설정을 따름

## App passwords
app-password-created = { $address } 사용자의 "{ $name }" 앱 암호를 만들었습니다. 장치에 계정 암호 대신 이 암호를 입력하세요. 이 암호는 지금만 표시됩니다:
app-password-org-blocks = 참고: "{ $org }" 조직에서 앱 암호를 차단하고 있으므로, 관리자가 `authrelay org set { $org } --app-passwords allowed` 명령을 실행하기 전까지 이 앱 암호는 거부됩니다.
app-password-none = { $address } 사용자에게 앱 암호가 없습니다.
app-password-revoked = { $address } 사용자의 "{ $name }" 앱 암호를 폐기했습니다. 이 앱 암호를 사용하던 장치는 더 이상 로그인할 수 없습니다.

## Queue
queue-count = { $count ->
   *[other] 큐에 메시지가 { $count }개 있습니다.
}
queue-corrupt = 경고: 손상된 큐 파일이 발견되어 배달하지 않습니다: { $reason }
queue-size = 크기: { $size }바이트

## Sign-in log
signins-none = 아직 기록된 로그인 시도가 없습니다.

## Labels
label-org = 조직
label-domains = 도메인
label-security-defaults = 보안 기본값
label-org-smtp-auth = SMTP AUTH(조직 전체)
label-app-passwords = 앱 암호
label-address = 주소
label-display-name = 표시 이름
label-sign-in = 로그인
label-mailbox-smtp-auth = 인증된 SMTP
label-mfa = 다단계 인증(MFA)
label-send-as = 다른 사람 이름으로 보내기
err-bad-display-name = 표시 이름은 제어 문자(줄바꿈, 이스케이프) 없이 1~256자여야 합니다. --display-name 값을 고치세요.
err-forbidden = { $role } 역할로는 이 작업({ $needed })을 할 수 없습니다. 권한이 있는 관리자로 명령을 실행하세요.

## authrelay cert show
cert-self-signed = 리스너는 자체 서명 인증서 { $file }를 사용합니다(authrelay가 만들었으며, 남은 기간이 30일 미만이면 시작할 때 새로 만듭니다). 서버를 검증하는 장치는 이 인증서를 신뢰해야 합니다. 아래 PEM을 가져오거나 지문을 비교하세요.
cert-configured = 리스너는 구성된 인증서 { $file }(tls.cert)를 사용합니다. 발급자를 신뢰하는 장치는 그대로 검증합니다.
cert-subject = 주체
cert-issuer = 발급자
cert-names = 이름
cert-valid-from = 유효 시작(UTC)
cert-valid-until = 유효 종료(UTC)
cert-fingerprint = SHA-256 지문
cert-pem-follows = 인증서(PEM):
cert-acme = 리스너는 ACME CA(tls.acme)에서 받은 인증서 { $file }를 제공합니다. 유효 기간이 3분의 1 남으면 서버가 갱신합니다. CA를 신뢰하는 장치는 그대로 검증합니다.
cert-acme-status = ACME: 연속 실패 { $failures }회, 마지막 시도 { $attempt }, 마지막 성공 { $success }, 다음 시도 { $next }, 마지막 오류: { $error }
cert-renew-requested = 실행 중인 서버(pid { $pid })에 { $directory }에서 인증서를 갱신하도록 요청했습니다. 최대 { $secs }초 기다립니다.
cert-renew-done = 서버가 새 인증서를 받았습니다. 유효 기간: { $until }(UTC)까지. 새 연결부터 사용하며 열린 세션은 기존 인증서를 유지합니다.
cert-renew-failed = 갱신 실패: { $error }. 서버가 스스로 다시 시도하며 현재 인증서는 계속 사용됩니다.
cert-renew-pending = { $secs }초 안에 결과가 없습니다. 서버가 아직 처리 중입니다. 로그를 보거나 나중에 `authrelay cert show`를 실행하세요.
err-acme-off = tls.acme가 설정되지 않았습니다. 서버는 ACME CA의 인증서만 갱신합니다. 자체 서명 인증서는 시작할 때 새로 만들어지고, 설정한 tls.cert는 직접 교체해야 합니다(그다음 `authrelay reload`).
err-no-server = { $dir }에 대해 실행 중인 서버가 없습니다: { $reason }. `authrelay serve`(또는 `systemctl start authrelay`)로 시작하세요.
err-signal = 서버(pid { $pid })에 신호를 보낼 수 없습니다: { $reason }. root나 서버 사용자로 실행하거나 `systemctl reload authrelay`를 사용하세요.
reload-sent = 서버(pid { $pid })에 SIGHUP을 보냈습니다.
reload-done = 다시 읽음: { $reloaded }. 열린 세션은 시작할 때의 설정으로 계속되고 새 세션은 새 설정을 사용합니다.
reload-restart-needed = 변경되었지만 시작할 때만 읽는 항목(적용하려면 다시 시작): { $sections }
reload-failed-parts = 적용되지 않음(로그 참조): { $parts }
reload-refused = 다시 읽기가 거부되어 현재 설정이 유지됩니다. 설정을 불러올 수 없습니다. { $problems }
reload-no-answer = 서버가 { $secs }초 안에 다시 읽기 결과를 알리지 않았습니다. 로그를 확인하세요.

# 백업 및 복원(README "Backup").
backup-done = 백업을 { $file }에 저장했습니다({ $size }바이트): 데이터베이스, 대기 중인 메시지 { $messages }개, 기타 파일 { $files }개(인증서, 키, 배달 상태). 비밀번호 해시와 개인 키가 들어 있으므로 서버만큼 안전하게 보관하세요. 복원 명령: authrelay restore --from FILE --data-dir NEW-DIR
err-backup = 백업 파일 { $file }을(를) 쓸 수 없습니다({ $reason }). 아카이브를 저장할 위치의 여유 공간과 권한을 확인한 뒤 authrelay backup을 다시 실행하세요.
err-backup-no-data = { $dir }에 백업할 데이터베이스가 없습니다. --data-dir DIR 옵션으로 서버의 데이터 디렉터리를 지정하세요(패키지는 /var/lib/authrelay를 사용합니다).
err-backup-postgres = 디렉터리가 데이터 디렉터리가 아니라 PostgreSQL([store] url)에 저장되어 있습니다. pg_dump(또는 클러스터 자체 백업)로 백업하고, 키와 대기열을 위해 각 노드의 데이터 디렉터리를 복사하세요.
store-migrated = 스키마 마이그레이션 { $applied }개를 적용했습니다. { $url }은(는) 최신 상태입니다(전체 { $total }개).
store-copy-table = { $table }: { $rows }행, sha256 { $sha }
store-copied = { $from }에서 { $to }(으)로 테이블 { $tables }개를 복사했습니다. 모든 테이블을 다시 읽어 행과 체크섬이 같음을 확인했습니다. 모든 노드에 [store] url로 이 데이터베이스를 지정하고, 이 데이터 디렉터리의 admin-totp.key를 각 노드에 복사한 다음 시작하세요.
store-copy-queue = 큐: 메시지 { $messages }개({ $bytes }바이트, sha256 { $sha })를 공유 큐로 옮겼습니다. 각각 바이트 단위로 다시 읽어 확인한 뒤 { $spool }에서 삭제했습니다{ $corrupt }
store-copy-queue-corrupt = ; 손상된 스풀 파일 { $count }개는 확인할 수 있도록 그대로 두었습니다
err-store-copy-from = --from은 "sqlite"(이 데이터 디렉터리의 authrelay.db) 또는 authrelay.db 파일 경로여야 합니다. 입력값: '{ $from }'.
err-store-copy-to = --to는 postgres://authrelay:PASSWORD@db.example:5432/authrelay 같은 PostgreSQL URL이어야 합니다. 입력값: '{ $to }'.
err-store-not-postgres = 이 명령에는 PostgreSQL 저장소가 필요합니다. 구성에서 [store] url을 설정하거나 --database-url postgres://…를 지정하세요.
restore-done = { $file }({ $taken }에 만든 백업)을(를) { $dir }에 복원했습니다: 데이터베이스, 대기 중인 메시지 { $messages }개, 기타 파일 { $files }개. --data-dir { $dir } 옵션으로 서버를 시작하세요.
err-restore-not-empty = { $dir } 디렉터리가 비어 있지 않습니다. 사용 중인 데이터를 덮어쓰지 않도록 백업은 비어 있거나 없는 디렉터리에만 복원합니다. --data-dir DIR 옵션으로 새 디렉터리를 지정하거나 이 디렉터리를 먼저 다른 곳으로 옮기세요.
err-restore-not-backup = { $file }은(는) 온전한 authrelay 백업이 아닙니다({ $reason }). 아무것도 복원하지 않았습니다. authrelay backup으로 만든 아카이브를 사용하세요.
err-restore-read = 백업 파일 { $file }을(를) 읽을 수 없습니다({ $reason }). --from FILE 옵션으로 authrelay backup이 만든 아카이브를 지정하세요.

## Table headers of the CLI lists (issue 19)
col-state = 상태
col-envelope = 보낸 사람 -> 받는 사람
col-totp = 인증 앱

## config check problems (crates/config/src/problem.rs holds the English texts and their ids)
config-problem-positive = 0보다 커야 합니다
config-problem-positive-rate = 0보다 커야 합니다(Microsoft의 제한은 30입니다)
config-problem-between = { $a }에서 { $b } 사이여야 합니다
config-problem-line-length = 998 이상이어야 합니다(RFC 5322 2.1.1은 998자 줄을 허용합니다)
config-problem-lockout-max = lockout.duration_secs 이상이어야 합니다
config-problem-verify-workers = 256 이하여야 합니다(실행 중인 확인 하나가 19MiB를 사용합니다)
config-problem-retention = 36500 이하여야 합니다(100년)
config-problem-messages-per-connection = 1 이상이어야 합니다(1: 메시지마다 새 연결)
config-problem-no-file = { $a } 파일이 없습니다
config-problem-cannot-read-file = 파일을 읽을 수 없습니다: { $a }
config-problem-cannot-read = { $a }을(를) 읽을 수 없습니다: { $b }
config-problem-not-domain = "{ $a }"은(는) 도메인이 아닙니다
config-problem-not-host-name = "{ $a }"은(는) 올바른 호스트 이름이 아닙니다
config-problem-admin-host = "{ $a }"은(는) admin.contoso.com 같은 호스트 이름이 아닙니다(포트와 스킴 없이 쓰세요)
config-problem-listen = "{ $a }"은(는) 127.0.0.1:2587 같은 주소:포트가 아닙니다(끄려면 ""를 쓰세요)
config-problem-admin-listen = "{ $a }"은(는) 127.0.0.1:8025 같은 주소:포트가 아닙니다(관리 센터를 끄려면 ""를 쓰세요)
config-problem-proxy-everyone = "{ $a }"은(는) 모든 주소를 신뢰합니다. 부하 분산 장치의 주소를 나열하세요
config-problem-cidr = "{ $a }": { $b }. 주소나 "10.0.0.5/32" 같은 CIDR을 쓰세요
config-problem-open-relay = "{ $a }"은(는) 모든 주소를 허용하므로 오픈 릴레이가 됩니다. 장치의 주소를 나열하세요
config-problem-nameserver = "{ $a }"은(는) IP 주소나 주소:포트가 아닙니다
config-problem-auth-method = "{ $a }"은(는) 인증 방법이 아닙니다. "password" 또는 "xoauth2"를 쓰세요
config-problem-no-listener = 두 수신기가 모두 꺼져 있어 메일을 받을 곳이 없습니다
config-problem-tls-pair = tls.cert와 tls.key(PEM 파일)를 모두 설정하거나, 자체 서명 인증서를 쓰려면 둘 다 비워 두세요
config-problem-oauth-required = [oauth]가 있으면 반드시 설정해야 합니다
config-problem-connector-clients = AUTH 없이 보낼 수 있는 클라이언트 주소를 나열하세요(예: ["192.0.2.10/32"])
config-problem-connector-domains = 장치가 보내는 도메인을 나열하세요(예: ["contoso.com"])
config-problem-route-domains = 도메인을 하나 이상 나열하거나, 모든 도메인이면 "*"를 쓰세요
config-problem-smarthost-host = 스마트 호스트 경로에는 host가 필요합니다(예: "smtp.office365.com")
config-problem-tls-mode = "implicit", "starttls", "opportunistic" 중 하나여야 합니다
config-problem-password-both = password와 password_file 중 하나만 설정하세요
config-problem-user-password = user와 password(또는 password_file)를 모두 설정하거나 둘 다 비워 두세요
config-problem-opportunistic-credentials = "opportunistic"은 확인되지 않은 인증서로 암호나 토큰을 보냅니다. tls = "starttls" 또는 "implicit"(사설 CA면 ca_file과 함께)를 쓰거나 자격 증명을 제거하세요
config-problem-mx-credentials = mx 경로에는 host나 자격 증명을 쓸 수 없습니다. kind = "smarthost"를 쓰세요
config-problem-xoauth2-password = auth = "xoauth2" 경로에는 암호를 쓸 수 없습니다. 제거하세요
config-problem-xoauth2-needs = auth = "xoauth2"에는 { $a }이(가) 필요합니다(예: { $b })
config-problem-client-secret-both = client_secret과 client_secret_file 중 하나만 설정하세요
config-problem-acme-domains = 인증서에 들어갈 이름을 나열하세요(예: ["smtp.contoso.com"])
config-problem-acme-ip = "{ $a }"은(는) IP 주소입니다. 여기서 ACME 인증서에는 DNS 이름만 넣을 수 있습니다
config-problem-acme-fqdn = "{ $a }"은(는) smtp.contoso.com 같은 정규화된 도메인 이름이 아닙니다
config-problem-acme-contact = "{ $a }"은(는) postmaster@contoso.com 같은 메일 주소가 아닙니다
config-problem-store-url = "{ $a }"은(는) PostgreSQL URL이 아닙니다. postgres://USER:PASSWORD@HOST:5432/DATABASE 형식으로 쓰거나, 내장 SQLite 데이터베이스를 쓰려면 비워 두세요
config-problem-store-connections = { $a }은(는) 너무 적습니다. 서버에는 최소 2개가 필요합니다(기본값 { $b })
config-problem-store-lease = { $a }은(는) 3..3600초 범위를 벗어났습니다(기본값 { $b })
config-problem-listener-address = "{ $a }"은(는) 192.168.50.1:2525 같은 주소:포트가 아닙니다
config-problem-listener-taken = { $a }은(는) 이미 리스너입니다
config-problem-choice = "{ $a }"은(는) 다음 중 하나가 아닙니다: { $b }
config-problem-plain-tls-min = plain 리스너에는 TLS가 없습니다. tls_min을 빼세요(또는 kind = "starttls"를 쓰세요)
config-problem-legacy-tls-feature = TLS { $a }에는 legacy-tls 기능(OpenSSL)으로 빌드한 바이너리가 필요합니다. libssl-dev와 pkg-config를 설치한 뒤 cargo build --release --features legacy-tls를 실행하세요(README "Legacy devices")
config-problem-listener-everyone = "{ $a }"은(는) 모든 주소를 허용합니다. 장치의 주소나 서브넷을 나열하세요
config-problem-legacy-clients = 레거시 리스너(오래된 TLS, TLS 없음 또는 bare_newline = "normalize")에는 clients가 필요합니다. 장치의 주소나 서브넷을 적으세요(예: ["192.168.50.0/24"])
config-problem-legacy-public-address = { $a }은(는) 루프백이나 사설 주소가 아닙니다. 그곳의 레거시 리스너는 약한 TLS나 TLS 없는 경로를 네트워크 밖에 노출합니다. 장치 VLAN에 바인딩하거나, 의도한 것이라면 acknowledge_public = true를 설정하세요
config-problem-legacy-public-clients = clients { $a }은(는) 사설 범위가 아닙니다. 이들을 위한 레거시 리스너는 약한 TLS나 TLS 없는 경로를 네트워크 밖에 노출합니다. 장치 VLAN을 나열하거나, 의도한 것이라면 acknowledge_public = true를 설정하세요
config-problem-legacy-password = "{ $a }"은(는) 약한 TLS나 TLS 없는 경로로 로그인할 수 없습니다. 장치에 장치 자격 증명을 주세요(authrelay device-credential add)
config-problem-listener-connector = 이름이 "{ $a }"인 [[connectors]] 항목이 없습니다
config-problem-other = 구성 파일을 읽지 못했습니다: { $text }

label-org-language = 반송 메시지 언어
err-bad-language = "{ $value }"은(는) 지원하는 언어가 아닙니다. --language en, ko 또는 id를 사용하세요.

## Command-line errors (clap's refusals, crates/authrelay/src/main.rs)
clap-invalid-choice = "{ $value }"은(는) { $arg }에 쓸 수 있는 값이 아닙니다. 사용할 수 있는 값: { $choices }.
clap-invalid-value = "{ $value }"은(는) { $arg }에 올바른 값이 아닙니다.
clap-unknown-argument = 여기에는 { $arg } 옵션이 없습니다.
clap-unknown-command = "{ $command }"은(는) 명령이 아닙니다.
clap-missing-argument = { $arg }이(가) 필요합니다.
clap-conflict = { $arg }은(는) { $other }과(와) 함께 쓸 수 없습니다.
clap-too-many = { $arg }을(를) 두 번 이상 지정했습니다.
clap-other = 명령줄을 읽을 수 없습니다: { $text }
clap-usage = 사용법:
clap-help-hint = 옵션과 명령을 보려면 명령 뒤에 --help를 붙여 실행하세요.
