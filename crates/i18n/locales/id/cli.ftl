# authrelay command-line messages (Indonesian). Every error says what to do next.

error-prefix = kesalahan:

## Errors from the directory
err-unknown-org = organisasi "{ $name }" tidak ditemukan. Lihat daftar organisasi yang ada dengan `authrelay org list`, atau buat organisasi baru dengan `authrelay org add { $name } --domain example.com`.
err-org-exists = organisasi "{ $name }" sudah ada. Pilih nama lain, atau ubah organisasi tersebut dengan `authrelay org set { $name } ...`.
err-domain-taken = domain { $domain } sudah dimiliki oleh organisasi "{ $org }". Satu domain hanya boleh dimiliki satu organisasi, jadi tambahkan pengguna ke organisasi "{ $org }".
err-no-org-for-domain = tidak ada organisasi yang menerima domain { $domain }. Buat organisasi dengan `authrelay org add NAME --domain { $domain }`, atau tambahkan domain tersebut ke organisasi yang sudah ada dengan `authrelay org set NAME --add-domain { $domain }`.
err-unknown-user = pengguna { $address } tidak ditemukan. Lihat daftar pengguna yang ada dengan `authrelay user list`, atau buat pengguna tersebut dengan `authrelay user add { $address }`.
err-user-exists = pengguna { $address } sudah ada. Ubah pengguna tersebut dengan `authrelay user set { $address } ...` atau atur ulang kata sandinya dengan `authrelay user password { $address } --password-stdin`.
err-unknown-app-password = { $address } tidak memiliki kata sandi aplikasi bernama "{ $name }". Lihat daftar kata sandi aplikasinya dengan `authrelay app-password list { $address }`.
err-app-password-exists = { $address } sudah memiliki kata sandi aplikasi bernama "{ $name }". Pilih nama lain, atau cabut dulu kata sandi aplikasi yang lama dengan `authrelay app-password revoke { $address } --name { $name }`.
err-too-many-app-passwords = { $address } sudah memiliki 40 kata sandi aplikasi, jumlah maksimum yang diizinkan. Cabut kata sandi aplikasi yang tidak dipakai dengan `authrelay app-password revoke { $address } --name NAME`.
err-storage = basis data tidak dapat dibaca atau ditulis ({ $reason }). Pastikan direktori data berada di disk yang dapat ditulisi dan masih memiliki ruang kosong, lalu coba lagi.

## Errors about files, the network and configuration
err-spool = antrean di { $path } tidak dapat digunakan ({ $reason }). Periksa izin direktori tersebut dan ruang disk yang tersisa.
err-shared-queue = antrean bersama di PostgreSQL tidak dapat digunakan ({ $reason }). Periksa apakah basis data di [store] url menjawab (`authrelay store migrate --check` menguji koneksi dan skemanya).
err-tls = sertifikat TLS tidak dapat dimuat ({ $reason }). Perbaiki tls.cert dan tls.key di konfigurasi, atau hapus keduanya untuk memakai sertifikat yang ditandatangani sendiri.
err-listen = port untuk menerima koneksi tidak dapat dibuka ({ $reason }). Port tersebut mungkin sedang dipakai program lain; pilih port lain dengan --submission ADDR / --submissions ADDR.
err-data-dir = direktori data { $path } tidak dapat digunakan ({ $reason }). Pilih direktori lain dengan --data-dir DIR atau AUTHRELAY_DATA_DIR.
err-config = konfigurasi memiliki masalah berikut:
    { $problems }
    Perbaiki masalah tersebut, lalu periksa lagi dengan `authrelay config check`.
err-io = output tidak dapat ditulis ({ $reason }).
config-ok = Konfigurasi valid. Pengaturan yang berlaku:

## Errors in what was typed
err-bad-address = "{ $address }" bukan alamat email yang dapat digunakan: { $reason }. Tulis dengan format nama@example.com.
err-bad-domain = "{ $domain }" bukan nama domain. Tulis dengan format example.com, tanpa @ atau spasi.
err-bad-org-name = nama organisasi harus 1 sampai 64 karakter tanpa karakter kontrol (pemisah baris, escape), misalnya "Contoso".
err-nothing-to-set = tidak ada yang diubah. Berikan setidaknya satu opsi untuk `{ $command }`; lihat `--help` untuk daftar opsinya.
err-bad-app-password-name = kata sandi aplikasi memerlukan nama sepanjang 1 sampai 64 karakter tanpa karakter kontrol (pemisah baris, escape), misalnya --name "pemindai kantor".
err-password-stdin = tidak ada kata sandi yang diterima dari input standar. Kirimkan melalui pipe, misalnya: printf '%s\n' 'kata sandi Anda' | authrelay user password ADDRESS --password-stdin
err-password-too-short = kata sandi terlalu pendek. Gunakan minimal { $min } karakter, atau jalankan tanpa --password-stdin agar authrelay membuatkan kata sandi yang kuat.
err-password-few-kinds = kata sandi terlalu sederhana. Gabungkan minimal tiga jenis dari huruf kecil, huruf besar, angka, dan simbol, atau gunakan frasa sandi sepanjang 20 karakter atau lebih.
err-password-contains-address = kata sandi memuat nama pengguna itu sendiri. Pilih kata sandi yang tidak memuat nama tersebut.
err-password-common = kata sandi ini ada dalam daftar kata sandi yang paling dulu dicoba oleh penyerang. Pilih kata sandi yang tidak umum.
err-bad-queue-id = "{ $id }" bukan ID antrean. ID antrean terdiri atas 20 karakter 0-9 dan A-F, seperti yang ditampilkan oleh `authrelay queue list`.
err-queue-not-found = tidak ada pesan { $id } di antrean. Pesan tersebut mungkin sudah terkirim; periksa dengan `authrelay queue list`.

## Organisations
org-created = Organisasi "{ $name }" untuk { $domains } telah dibuat.
org-created-next = Seperti tenant Microsoft 365, organisasi baru dimulai dengan default keamanan aktif dan SMTP AUTH nonaktif. Tambahkan kotak surat dengan `authrelay user add someone@{ $domain }`.
org-updated = Organisasi "{ $name }" telah diperbarui.
org-none = Belum ada organisasi. Buat organisasi dengan `authrelay org add NAME --domain example.com`.

## Users
user-created = Pengguna { $address } telah dibuat di organisasi "{ $org }".
user-password-generated = Kata sandi yang dibuat (hanya ditampilkan kali ini; simpan di pengaturan perangkat):
user-created-next = Agar perangkat dapat mengirim sebagai { $address }, periksa apa yang memblokirnya dengan `authrelay user show { $address }`.
user-updated = { $address } telah diperbarui.
user-password-set = Kata sandi { $address } telah diubah. Perangkat yang masih memakai kata sandi lama akan gagal dengan 535 5.7.139 sampai kata sandinya diperbarui.
user-none = Belum ada pengguna. Buat pengguna dengan `authrelay user add name@example.com`.
smtp-auth-effective-on-mailbox = yang berlaku: aktif, diatur pada kotak surat ini
smtp-auth-effective-on-org = yang berlaku: aktif, mengikuti pengaturan organisasi
smtp-auth-effective-off-mailbox = yang berlaku: nonaktif, diatur pada kotak surat ini
smtp-auth-effective-off-org = yang berlaku: nonaktif, mengikuti pengaturan organisasi

## App passwords
app-password-created = Kata sandi aplikasi "{ $name }" untuk { $address } telah dibuat. Masukkan kata sandi ini di perangkat sebagai pengganti kata sandi akun; kata sandi ini hanya ditampilkan kali ini:
app-password-org-blocks = Catatan: organisasi "{ $org }" memblokir kata sandi aplikasi, jadi kata sandi ini akan ditolak sampai admin menjalankan `authrelay org set { $org } --app-passwords allowed`.
app-password-none = { $address } tidak memiliki kata sandi aplikasi.
app-password-revoked = Kata sandi aplikasi "{ $name }" milik { $address } telah dicabut. Perangkat yang memakainya tidak dapat masuk lagi.

## Queue
queue-count = { $count ->
   *[other] Ada { $count } pesan di antrean.
}
queue-corrupt = peringatan: ditemukan file antrean yang rusak dan tidak akan dikirim: { $reason }
queue-size = Ukuran: { $size } byte

## Sign-in log
signins-none = Belum ada upaya masuk yang tercatat.

## Labels
label-org = Organisasi
label-domains = Domain
label-security-defaults = Default keamanan
label-org-smtp-auth = SMTP AUTH (organisasi)
label-app-passwords = Kata sandi aplikasi
label-address = Alamat
label-display-name = Nama tampilan
label-sign-in = Status masuk
label-mailbox-smtp-auth = SMTP Terautentikasi
label-mfa = MFA
label-send-as = Kirim sebagai
err-bad-display-name = nama tampilan harus 1 sampai 256 karakter tanpa karakter kontrol (pemisah baris, escape). Perbaiki --display-name.
err-forbidden = peran { $role } tidak boleh melakukan ini ({ $needed }). Jalankan perintah sebagai administrator yang berwenang.

## authrelay cert show
cert-self-signed = Listener memakai sertifikat yang ditandatangani sendiri { $file } (dibuat oleh authrelay; dibuat ulang saat mulai bila sisa masa berlakunya kurang dari 30 hari). Perangkat yang memverifikasi server harus memercayai sertifikat ini: impor PEM di bawah, atau bandingkan sidik jarinya.
cert-configured = Listener memakai sertifikat yang dikonfigurasi { $file } (tls.cert). Perangkat yang memercayai penerbitnya memverifikasinya tanpa perubahan.
cert-subject = Subjek
cert-issuer = Penerbit
cert-names = Nama
cert-valid-from = Berlaku sejak (UTC)
cert-valid-until = Berlaku hingga (UTC)
cert-fingerprint = Sidik jari SHA-256
cert-pem-follows = Sertifikatnya (PEM):
cert-acme = Listener menyajikan sertifikat { $file } dari CA ACME (tls.acme), diperpanjang oleh server saat sisa masa berlakunya sepertiga. Perangkat yang memercayai CA memverifikasinya apa adanya.
cert-acme-status = ACME: { $failures } percobaan gagal berturut-turut; percobaan terakhir { $attempt }; berhasil terakhir { $success }; percobaan berikutnya { $next }; galat terakhir: { $error }
cert-renew-requested = Meminta server yang berjalan (pid { $pid }) memperpanjang sertifikat dari { $directory }; menunggu hingga { $secs } dtk.
cert-renew-done = Server memperoleh sertifikat baru, berlaku sampai { $until } (UTC); koneksi baru mendapatkannya, sesi yang terbuka tetap memakai yang lama.
cert-renew-failed = Perpanjangan gagal: { $error }. Server mencoba lagi sendiri; sertifikat saat ini tetap dipakai.
cert-renew-pending = Tidak ada hasil dalam { $secs } dtk; server masih mengerjakannya. Lihat log-nya, atau jalankan `authrelay cert show` nanti.
err-acme-off = tls.acme tidak dikonfigurasi: server hanya memperpanjang sertifikat dari CA ACME. Sertifikat swatanda dibuat ulang saat mulai; tls.cert yang dikonfigurasi harus Anda ganti sendiri (lalu `authrelay reload`).
err-no-server = Tidak ada server yang berjalan untuk { $dir }: { $reason }. Jalankan dengan `authrelay serve` (atau `systemctl start authrelay`).
err-signal = Tidak dapat mengirim sinyal ke server (pid { $pid }): { $reason }. Jalankan sebagai root atau pengguna server, atau gunakan `systemctl reload authrelay`.
reload-sent = SIGHUP dikirim ke server (pid { $pid }).
reload-done = Dimuat ulang: { $reloaded }. Sesi yang terbuka berlanjut dengan pengaturan awalnya; sesi baru memakai pengaturan baru.
reload-restart-needed = Berubah tetapi hanya dibaca saat mulai (mulai ulang untuk menerapkan): { $sections }
reload-failed-parts = Tidak diterapkan (lihat log): { $parts }
reload-refused = Muat ulang ditolak, pengaturan yang berlaku tetap: konfigurasi tidak dapat dimuat. { $problems }
reload-no-answer = Server tidak melaporkan muat ulang dalam { $secs } dtk; lihat log-nya.

# Cadangan dan pemulihan (README "Backup").
backup-done = Cadangan ditulis ke { $file } ({ $size } bita): basis data, { $messages } pesan dalam antrean, dan { $files } berkas lain (sertifikat, kunci, status pengiriman). Simpan seaman server itu sendiri: berkas ini berisi hash kata sandi dan kunci privat. Pulihkan dengan: authrelay restore --from FILE --data-dir NEW-DIR
err-backup = cadangan { $file } tidak dapat ditulis ({ $reason }). Periksa ruang kosong dan izin di lokasi arsip, lalu jalankan authrelay backup lagi.
err-backup-no-data = tidak ada basis data di { $dir } untuk dicadangkan. Sebutkan direktori data server dengan --data-dir DIR (paket memakai /var/lib/authrelay).
err-backup-postgres = direktori disimpan di PostgreSQL ([store] url), bukan di direktori data: cadangkan dengan pg_dump (atau pencadangan klaster Anda sendiri), lalu salin direktori data setiap node untuk kunci dan antreannya.
store-migrated = { $applied } migrasi skema diterapkan; { $url } sudah mutakhir ({ $total } seluruhnya).
store-copy-table = { $table }: { $rows } baris, sha256 { $sha }
store-copied = { $tables } tabel disalin dari { $from } ke { $to }: setiap tabel dibaca ulang dengan baris dan checksum yang sama. Arahkan setiap node ke sana dengan [store] url, berikan admin-totp.key dari direktori data ini ke setiap node, lalu jalankan.
store-copy-queue = antrean: { $messages } pesan ({ $bytes } byte, sha256 { $sha }) dipindahkan ke antrean bersama, masing-masing dibaca ulang byte demi byte lalu dihapus dari { $spool }{ $corrupt }
store-copy-queue-corrupt = ; { $count } berkas spool yang rusak dibiarkan di sana untuk Anda periksa
err-store-copy-from = --from harus "sqlite" (authrelay.db di direktori data ini) atau path berkas authrelay.db; yang diberikan '{ $from }'.
err-store-copy-to = --to harus URL PostgreSQL seperti postgres://authrelay:KATA_SANDI@db.example:5432/authrelay; yang diberikan '{ $to }'.
err-store-not-postgres = perintah ini memerlukan penyimpanan PostgreSQL: atur [store] url di konfigurasi atau berikan --database-url postgres://….
restore-done = { $file } (dibuat { $taken }) dipulihkan ke { $dir }: basis data, { $messages } pesan dalam antrean, dan { $files } berkas lain. Jalankan server dengan --data-dir { $dir }.
err-restore-not-empty = { $dir } tidak kosong; cadangan hanya dipulihkan ke direktori yang kosong atau belum ada, agar tidak ada data terpakai yang tertimpa. Sebutkan direktori baru dengan --data-dir DIR, atau pindahkan direktori ini terlebih dahulu.
err-restore-not-backup = { $file } bukan cadangan authrelay yang utuh ({ $reason }). Tidak ada yang dipulihkan; gunakan arsip yang ditulis oleh authrelay backup.
err-restore-read = cadangan { $file } tidak dapat dibaca ({ $reason }). Sebutkan arsip yang ditulis oleh authrelay backup dengan --from FILE.

## Table headers of the CLI lists (issue 19)
col-state = Status
col-envelope = Pengirim -> penerima
col-totp = Aplikasi autentikator

## config check problems (crates/config/src/problem.rs holds the English texts and their ids)
config-problem-positive = harus lebih besar dari 0
config-problem-positive-rate = harus lebih besar dari 0 (batas Microsoft adalah 30)
config-problem-between = harus antara { $a } dan { $b }
config-problem-line-length = paling sedikit 998 (RFC 5322 2.1.1 mengizinkan baris 998 karakter)
config-problem-lockout-max = paling sedikit lockout.duration_secs
config-problem-verify-workers = paling banyak 256 (setiap verifikasi yang berjalan memakai 19 MiB)
config-problem-retention = paling banyak 36500 (100 tahun)
config-problem-messages-per-connection = paling sedikit 1 (1: koneksi baru untuk setiap pesan)
config-problem-no-file = tidak ada file di { $a }
config-problem-cannot-read-file = file tidak dapat dibaca: { $a }
config-problem-cannot-read = { $a } tidak dapat dibaca: { $b }
config-problem-not-domain = "{ $a }" bukan domain
config-problem-not-host-name = "{ $a }" bukan nama host yang valid
config-problem-admin-host = "{ $a }" bukan nama host seperti admin.contoso.com (tanpa port, tanpa skema)
config-problem-listen = "{ $a }" bukan alamat:port seperti 127.0.0.1:2587 (gunakan "" untuk menonaktifkannya)
config-problem-admin-listen = "{ $a }" bukan alamat:port seperti 127.0.0.1:8025 (gunakan "" untuk menonaktifkan pusat admin)
config-problem-proxy-everyone = "{ $a }" memercayai semua alamat; cantumkan alamat penyeimbang beban
config-problem-cidr = "{ $a }": { $b }; tulis alamat atau CIDR seperti "10.0.0.5/32"
config-problem-open-relay = "{ $a }" menerima semua alamat sehingga menjadi relai terbuka; cantumkan alamat perangkat
config-problem-nameserver = "{ $a }" bukan alamat IP atau alamat:port
config-problem-auth-method = "{ $a }" bukan metode autentikasi; gunakan "password" atau "xoauth2"
config-problem-no-listener = kedua listener nonaktif; tidak ada yang menerima email
config-problem-tls-pair = atur tls.cert dan tls.key (file PEM) sekaligus, atau kosongkan keduanya untuk memakai sertifikat yang ditandatangani sendiri
config-problem-oauth-required = wajib jika [oauth] ada
config-problem-connector-clients = cantumkan alamat klien yang boleh mengirim tanpa AUTH, misalnya ["192.0.2.10/32"]
config-problem-connector-domains = cantumkan domain tempat perangkat mengirim, misalnya ["contoso.com"]
config-problem-route-domains = cantumkan paling sedikit satu domain, atau "*" untuk semua domain
config-problem-smarthost-host = rute smarthost memerlukan host, misalnya "smtp.office365.com"
config-problem-tls-mode = harus "implicit", "starttls", atau "opportunistic"
config-problem-password-both = atur password atau password_file, jangan keduanya
config-problem-user-password = atur user dan password (atau password_file) sekaligus, atau jangan keduanya
config-problem-opportunistic-credentials = "opportunistic" mengirim kata sandi atau token tanpa sertifikat yang terverifikasi; gunakan tls = "starttls" atau "implicit" (dengan ca_file untuk CA privat), atau hapus kredensialnya
config-problem-mx-credentials = rute mx tidak menerima host atau kredensial; gunakan kind = "smarthost"
config-problem-xoauth2-password = rute dengan auth = "xoauth2" tidak menerima kata sandi; hapus kata sandinya
config-problem-xoauth2-needs = auth = "xoauth2" memerlukan { $a }, misalnya { $b }
config-problem-client-secret-both = atur client_secret atau client_secret_file, jangan keduanya
config-problem-acme-domains = sebutkan nama yang harus dimuat sertifikat, mis. ["smtp.contoso.com"]
config-problem-acme-ip = "{ $a }" adalah alamat IP; sertifikat ACME di sini hanya memuat nama DNS
config-problem-acme-fqdn = "{ $a }" bukan nama domain lengkap seperti smtp.contoso.com
config-problem-acme-contact = "{ $a }" bukan alamat email seperti postmaster@contoso.com
config-problem-store-url = "{ $a }" bukan URL PostgreSQL; tulis postgres://USER:PASSWORD@HOST:5432/DATABASE, atau hapus untuk memakai basis data SQLite bawaan
config-problem-store-connections = { $a } terlalu sedikit; server memerlukan paling sedikit 2 (bawaan { $b })
config-problem-store-lease = { $a } di luar 3..3600 detik (bawaan { $b })
config-problem-listener-address = "{ $a }" bukan alamat:port seperti 192.168.50.1:2525
config-problem-listener-taken = { $a } sudah menjadi listener
config-problem-choice = "{ $a }" bukan salah satu dari: { $b }
config-problem-plain-tls-min = listener plain tidak memakai TLS; hapus tls_min (atau pakai kind = "starttls")
config-problem-legacy-tls-feature = TLS { $a } memerlukan build dengan fitur legacy-tls (OpenSSL): pasang libssl-dev dan pkg-config, lalu jalankan cargo build --release --features legacy-tls (README "Legacy devices")
config-problem-listener-everyone = "{ $a }" menerima semua alamat; cantumkan alamat atau subnet perangkat itu sendiri
config-problem-legacy-clients = listener lawas (TLS lama, tanpa TLS, atau bare_newline = "normalize") memerlukan clients: alamat atau subnet perangkat, misalnya ["192.168.50.0/24"]
config-problem-legacy-public-address = { $a } bukan alamat loopback atau privat: listener lawas di sana membuka TLS lemah atau tanpa TLS ke luar jaringan Anda; ikat ke VLAN perangkat, atau setel acknowledge_public = true jika memang itu maksud Anda
config-problem-legacy-public-clients = clients { $a } bukan rentang privat: listener lawas untuk mereka membuka TLS lemah atau tanpa TLS ke luar jaringan Anda; cantumkan VLAN perangkat, atau setel acknowledge_public = true jika memang itu maksud Anda
config-problem-legacy-password = "{ $a }" tidak boleh masuk lewat TLS lemah atau tanpa TLS; beri perangkat kredensial perangkat (authrelay device-credential add)
config-problem-listener-connector = tidak ada entri [[connectors]] bernama "{ $a }"
config-problem-other = file konfigurasi tidak dapat dibaca: { $text }

label-org-language = Bahasa pesan pentalan
err-bad-language = "{ $value }" bukan bahasa yang tersedia. Gunakan --language en, ko, atau id.

## Command-line errors (clap's refusals, crates/authrelay/src/main.rs)
clap-invalid-choice = "{ $value }" bukan nilai untuk { $arg }. Nilai yang dapat dipakai: { $choices }.
clap-invalid-value = "{ $value }" bukan nilai yang valid untuk { $arg }.
clap-unknown-argument = opsi { $arg } tidak ada di sini.
clap-unknown-command = "{ $command }" bukan perintah.
clap-missing-argument = { $arg } wajib diisi.
clap-conflict = { $arg } tidak dapat dipakai bersama { $other }.
clap-too-many = { $arg } diberikan lebih dari sekali.
clap-other = baris perintah tidak dapat dibaca: { $text }
clap-usage = Penggunaan:
clap-help-hint = Untuk melihat opsi dan perintah, jalankan perintah dengan --help.
