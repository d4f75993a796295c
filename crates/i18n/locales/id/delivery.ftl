# Pengiriman: pengelola antrean, `authrelay queue`, `authrelay dkim`.
err-delivery = pengiriman tidak dapat dimulai ({ $reason }). Periksa pengaturan [delivery] dan [[routes]] dengan `authrelay config check`.
queue-state-active = aktif
queue-state-deferred = ditunda
queue-state-held = ditahan
queue-state-throttled = menunggu batas laju
queue-state-done = selesai
queue-state-new = baru
queue-state-counts = Menurut status: { $summary }
queue-recipients = Penerima:
queue-retry-requested = { $id }: percobaan ulang diminta. Server yang berjalan mencoba penerima yang tertunda dalam beberapa detik.
queue-retry-all = { $count ->
   *[other] Percobaan ulang diminta untuk { $count } pesan.
}
queue-held = { $id } ditahan dan tidak akan dikirim sampai `authrelay queue release { $id }`.
queue-released = { $id } dilepas dan akan dikirim sesuai jadwalnya.
queue-deleted = { $id } dihapus dari antrean. Pesan ini tidak akan dikirim, dan tidak ada pesan pentalan.
dkim-generated = Kunci DKIM { $algorithm } untuk { $domain } dibuat dengan selektor { $selector }: { $path }
dkim-publish = Terbitkan record TXT ini di DNS { $domain }. Mulai sekarang surat dari { $domain } yang diteruskan keluar ditandatangani.
err-dkim-exists = kunci DKIM dengan selektor { $selector } sudah ada untuk { $domain } ({ $path }). Pilih --selector lain, atau hapus file itu untuk mengganti kuncinya.
err-dkim-bad-selector = "{ $selector }" bukan selektor yang valid. Gunakan huruf, angka, dan "-", paling banyak 63 karakter.
err-dkim-algorithm = "{ $algorithm }" bukan jenis kunci DKIM. Gunakan --algorithm rsa atau --algorithm ed25519.
err-dkim = kunci DKIM tidak dapat dibuat ({ $reason }). Periksa bahwa direktori data dapat ditulis.

## Bounces (crates/delivery/src/dsn.rs): the part for people
dsn-subject = Email yang tidak terkirim dikembalikan ke pengirim
dsn-intro = Ini adalah sistem email di { $host }.
dsn-not-delivered = Pesan Anda tidak dapat dikirimkan ke { $count } penerima.
dsn-reply-quoted = Balasan dari server penerima dikutip untuk setiap penerima.
dsn-remote-host = host { $host }
dsn-last-attempt = percobaan terakhir { $time }
dsn-english-follows = Bahasa Inggris
queue-rcpt-pending = menunggu
queue-rcpt-delivered = terkirim
queue-rcpt-failed = gagal
