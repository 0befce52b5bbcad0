"""Staff's routing profile lives in the hub's own table: the migration moves what ``users`` held."""

from sqlalchemy import inspect, text

from brokercare.core import migrate


def test_the_migration_moves_skills_slots_and_lead_off_the_logins(empty_engine):
    with empty_engine.begin() as conn:
        migrate.upgrade(conn, "0014_assessed_risks")
        conn.execute(text(
            "INSERT INTO users (id, username, display_name, role, password_hash, skills, max_concurrent,"
            " team_lead_id, active, created_at, failed_logins) VALUES"
            " (1, 'lead_zhou', '周海燕', 'team_lead', 'x', :lead_skills, 3, NULL, :yes, :at, 0),"
            " (2, 'agent_lin', '林雪', 'agent', 'x', :agent_skills, 4, 1, :no, :at, 0)"),
            {"lead_skills": '["complaints"]', "agent_skills": '["margin", "trading"]', "yes": True, "no": False,
             "at": "2026-09-15 02:00:00"})
        migrate.upgrade(conn)
    with empty_engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT user_id, skills, max_concurrent, team_lead_id, present FROM agent_profiles ORDER BY user_id"
        )).all()
    skills = [r[1] if isinstance(r[1], list) else __import__("json").loads(r[1]) for r in rows]
    assert [(r[0], r[2], r[3], bool(r[4])) for r in rows] == [(1, 3, None, True), (2, 4, 1, False)]
    assert skills == [["complaints"], ["margin", "trading"]]
    assert not {"skills", "max_concurrent", "team_lead_id"} & {
        c["name"] for c in inspect(empty_engine).get_columns("users")}

    with empty_engine.begin() as conn:  # and back: the logins get their routing fields again
        migrate.downgrade(conn, "0014_assessed_risks")
        back = conn.execute(text("SELECT id, max_concurrent, team_lead_id FROM users ORDER BY id")).all()
    assert [tuple(r) for r in back] == [(1, 3, None), (2, 4, 1)]
