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
dsn-graph-too-large = Microsoft Graph menerima pesan paling besar 4 MB dalam bentuk base64 (sekitar 3 MB pesan). Kirim ulang dengan ukuran lebih kecil, atau minta administrator menyediakan rute SMTP.
dsn-graph-refused = Microsoft Graph menolak pesan ini; kode dan teks kesalahannya dikutip di atas.
dsn-english-follows = Bahasa Inggris
queue-rcpt-pending = menunggu
queue-rcpt-delivered = terkirim
queue-rcpt-failed = gagal

## authrelay oauth keygen
oauth-keygen-done = Kunci dan sertifikat yang ditandatangani sendiri untuk kredensial sertifikat OAuth telah dibuat:
    sertifikat: { $certificate }
    kunci privat: { $key } (hanya server ini yang memerlukannya; tidak pernah meninggalkan mesin ini)
oauth-keygen-thumbprints = Thumbprint (SHA-1, seperti yang ditampilkan pusat admin Entra): { $sha1 }
    x5t#S256 (dikirim di setiap client assertion): { $s256 }
oauth-keygen-expires = Sertifikat berlaku hingga { $date }. Buat yang baru dan unggah sebelum tanggal itu.
oauth-keygen-route = Unggah sertifikat di bawah ke pendaftaran aplikasi (pusat admin Entra › App registrations › aplikasinya › Certificates & secrets › Certificates › Upload certificate), lalu tulis di rute:
    client_certificate_file = "{ $certificate }"
    client_key_file = "{ $key }"
err-oauth-keygen-exists = { $path } sudah ada. Pindahkan, atau pilih direktori lain dengan --out.
err-oauth-keygen-days = { $days } hari bukan masa berlaku. Gunakan --days antara 1 dan 3650.
err-oauth-keygen = kunci tidak dapat dibuat ({ $reason }). Periksa apakah direktorinya dapat ditulisi.

## Route credentials and presets: config check problems (crates/config/src/problem.rs holds the English texts)
config-problem-oauth-credential = auth = "xoauth2" memerlukan kredensial: client_certificate_file dan client_key_file, client_secret_file (baris pertama) atau client_secret, atau service_account_file (Google)
config-problem-credential-one = atur satu kredensial saja: rahasia klien, sertifikat, atau kunci akun layanan
config-problem-certificate-pair = atur client_certificate_file dan client_key_file sekaligus (authrelay oauth keygen membuat keduanya)
config-problem-no-certificate = { $a } tidak memuat sertifikat PEM
config-problem-no-rsa-key = { $a } tidak memuat kunci privat RSA (PEM) yang dapat dipakai untuk RS256
config-problem-service-account-file = { $a } bukan file kunci akun layanan Google (JSON dengan client_email dan private_key)
config-problem-google-service-account = Google tidak memiliki grant client-credentials: atur service_account_file ke kunci JSON akun layanan (dengan delegasi seluruh domain)
config-problem-preset = "{ $a }" bukan preset; gunakan { $b }
config-problem-preset-tenant = preset "{ $a }" memerlukan tenant = "<ID tenant atau contoso.onmicrosoft.com>"
config-problem-tenant = "{ $a }" bukan ID tenant atau domain
config-problem-route-kinds = "{ $a }" bukan jenis rute; gunakan "smarthost", "graph" atau "mx"
config-problem-graph-preset = rute graph menerima preset = "microsoft365" atau tanpa preset, bukan "{ $a }"
config-problem-graph-keys = rute graph masuk hanya dengan OAuth dan tidak menerima host, port, tls atau kata sandi
config-problem-graph-only = save_to_sent_items dan graph_url hanya untuk rute kind = "graph"
config-problem-rewrite-sender = harus "off", "envelope", "from" atau "both"
config-problem-sender-identity = rewrite_sender memerlukan identitas relay: atur sender_identity (atau user) ke alamat yang boleh dipakai relay untuk mengirim di upstream
config-problem-send-as = "{ $a }" bukan alamat atau @domain
