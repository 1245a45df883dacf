"""Extended-protocol traffic from psycopg 3: parameters, a pipeline of
several Executes before one Sync, an error inside a pipeline, named
prepared statements (prepare=True), and COPY through the extended path."""
import psycopg

conn = psycopg.connect("host=127.0.0.1 port=54329 dbname=appdb user=app "
                       "password=S3cretPassw0rd application_name=pipeline sslmode=disable")
conn.autocommit = True
cur = conn.cursor()
cur.execute("CREATE TEMP TABLE p (id int PRIMARY KEY, v text)")
cur.execute("INSERT INTO p VALUES (%s, %s)", (1, "alpha"))
cur.execute("SELECT v FROM p WHERE id = %s", (1,), prepare=True)
cur.execute("SELECT v FROM p WHERE id = %s", (1,), prepare=True)
with conn.pipeline():
    cur.execute("INSERT INTO p VALUES (%s, %s)", (2, "beta"))
    cur.execute("INSERT INTO p VALUES (%s, %s)", (3, "gamma"))
    cur.execute("SELECT count(*) FROM p WHERE id > %s", (0,))
try:
    with conn.pipeline():
        cur.execute("INSERT INTO p VALUES (%s, %s)", (4, "delta"))
        cur.execute("INSERT INTO p VALUES (%s, %s)", (1, "dup"))
        cur.execute("SELECT 1")
except psycopg.errors.UniqueViolation:
    pass
conn.close()
