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
dsn-english-follows = 영어 원문
queue-rcpt-pending = 대기 중
queue-rcpt-delivered = 배달됨
queue-rcpt-failed = 실패
