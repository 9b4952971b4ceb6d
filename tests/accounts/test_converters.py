def test_it_answers_404_for_an_id_no_column_can_hold(client_as):
    admin = client_as("admin")
    huge = "9" * 30
    assert admin.get(f"/calls/{huge}/").status_code == 404
    response = admin.get(f"/api/v1/calls/{huge}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
